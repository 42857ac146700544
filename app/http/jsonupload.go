package http

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/linkage-platform/linkage/app/engine"
	"github.com/linkage-platform/linkage/app/linkage"
)

// jsonUpload parses one POST /clks body, token by token, in any of the three forms:
//
//	{"clks": ["<base64>", ...]}
//	{"clknblocks": [["<base64>", "block", ...], ...]}
//	{"encodings": [...] | {"file": ...}, "blocks": {"<row>": ["block", ...]} | {"file": ...}}
type jsonUpload struct {
	s   *Server
	ctx context.Context
	a   *access
	lim *tokenLimit // under dec
	dec *json.Decoder
	r   *http.Request

	clks    *blobWriter
	blocks  *blobWriter
	bw      *linkage.BlocksWriter
	rec     *engine.RecordDecoder
	records int64
	maxRow  int64    // largest row named in a "blocks" object
	seen    []uint64 // bit set of the rows named in a "blocks" object
	form    string
	problem string // the first record that makes the upload unusable (accepted, then reported)
}

func (u *jsonUpload) parse() (res uploaded, err error) {
	defer func() {
		if err != nil {
			u.abort(err)
		}
		err = u.classify(err)
	}()
	u.dec.UseNumber()
	u.rec = engine.NewRecordDecoder(expectedSize(u.a))
	u.maxRow = -1
	if err := u.delim('{', "the body must be a JSON object with clks, clknblocks or encodings"); err != nil {
		return res, err
	}
	for u.dec.More() {
		t, err := u.dec.Token()
		if err != nil {
			return res, err
		}
		key, _ := t.(string)
		switch key {
		case "clks", "clknblocks", "encodings":
			if u.form != "" {
				return res, badRequest("%q and %q cannot both be given", u.form, key)
			}
			u.form = key
			if err := u.encodings(key); err != nil {
				return res, err
			}
		case "blocks":
			if err := u.blockMap(); err != nil {
				return res, err
			}
		default:
			if err := u.skip(); err != nil {
				return res, err
			}
		}
	}
	if _, err := u.dec.Token(); err != nil { // the closing '}'
		return res, err
	}
	if _, err := u.dec.Token(); err != io.EOF {
		return res, badRequest("unexpected data after the JSON object")
	}
	if u.form == "" {
		return res, badRequest("the body has none of clks, clknblocks or encodings")
	}
	if u.form == "clks" && u.blocks != nil {
		return res, badRequest(`"blocks" go with "encodings", not with "clks" (or use clknblocks)`)
	}
	if u.records == 0 {
		return res, badRequest("the upload holds no CLKs")
	}
	if u.maxRow >= u.records {
		return res, badRequest("blocks name record %d but there are only %d records", u.maxRow, u.records)
	}
	if u.clks != nil {
		if err := u.clks.finish(); err != nil {
			u.clks = nil
			return res, fmt.Errorf("store CLKs: %w", err)
		}
		u.clks = nil
	}
	if u.blocks != nil {
		if err := u.bw.Flush(); err != nil {
			return res, fmt.Errorf("store blocks: %w", err)
		}
		if err := u.blocks.finish(); err != nil {
			u.blocks = nil
			return res, fmt.Errorf("store blocks: %w", err)
		}
		u.blocks = nil
		res.hasBlocks = true
	}
	res.records, res.size, res.problem = u.records, u.rec.Size(), u.problem
	return res, nil
}

// classify turns JSON syntax errors into 400s and keeps problems and limits as they are.
func (u *jsonUpload) classify(err error) error {
	if err == nil {
		return nil
	}
	var p *problem
	var le *linkage.LimitError
	var mbe *http.MaxBytesError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &p), errors.As(err, &le), errors.As(err, &mbe):
		return err
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return badRequest("malformed JSON at byte %d: %v", u.dec.InputOffset(), err)
	}
	return err
}

func (u *jsonUpload) abort(err error) {
	if u.clks != nil {
		u.clks.abort(err)
		u.clks = nil
	}
	if u.blocks != nil {
		u.blocks.abort(err)
		u.blocks = nil
	}
}

func (u *jsonUpload) delim(want json.Delim, msg string) error {
	t, err := u.dec.Token()
	if err != nil {
		return err
	}
	if d, ok := t.(json.Delim); !ok || d != want {
		return badRequest("%s", msg)
	}
	return nil
}

// skip reads and discards one value (of an unknown key) without buffering it.
func (u *jsonUpload) skip() error {
	depth := 0
	for {
		t, err := u.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
		if depth == 0 {
			return nil
		}
	}
}

// record decodes one base64 CLK and appends it to the CLK blob.
func (u *jsonUpload) record(t json.Token) error {
	s, ok := t.(string)
	if !ok {
		return badRequest("record %d: a CLK must be a base64 string", u.records)
	}
	if u.records >= u.s.cfg.Limits.MaxUploadRecords {
		return &linkage.LimitError{Limit: "max-upload-records", Max: u.s.cfg.Limits.MaxUploadRecords}
	}
	want := u.rec.Size()
	b, err := u.rec.Decode(s)
	if err == nil && len(b) > min(maxCLKBytes, u.s.cfg.Limits.MaxHashSize) {
		err = fmt.Errorf("record %d: %d bytes, above the largest CLK size, %d bytes (%w)", u.records, len(b), min(maxCLKBytes, u.s.cfg.Limits.MaxHashSize), engine.ErrRecordSize)
	}
	if errors.Is(err, engine.ErrRecordSize) {
		// Accepted, then reported through the project's error flag (api.md): the rest is still
		// read and checked as base64, but no CLK is stored.
		if u.problem == "" {
			u.problem = err.Error()
			if want != 0 && u.records == 0 && u.rec.Count() == 0 {
				u.problem = fmt.Sprintf("%v (other parties uploaded %d-byte CLKs)", err, want)
			}
		}
		if u.clks != nil {
			u.clks.abort(err)
			u.clks = nil
		}
		u.records++
		return nil
	}
	if err != nil {
		return badRequest("%v", err)
	}
	u.records++
	if u.problem != "" {
		return nil
	}
	if u.clks == nil {
		u.clks = startPut(u.ctx, u.s.blobs, linkage.UploadKey(u.a.project.ID, u.a.party, u.a.attempt))
	}
	if _, err := u.clks.Write(b); err != nil {
		return fmt.Errorf("store CLKs: %w", err)
	}
	return nil
}

// flush hands what was decoded so far to the blob writers (the upload-half-written fault point).
func (u *jsonUpload) flush() error {
	if u.clks != nil {
		if err := u.clks.flush(); err != nil {
			return err
		}
	}
	if u.blocks != nil {
		if err := u.bw.Flush(); err != nil {
			return err
		}
		return u.blocks.flush()
	}
	return nil
}

// startBlocks starts the one blocks blob writer of the upload: a second one would abandon the
// first (its goroutine, descriptor and temp file) for good.
func (u *jsonUpload) startBlocks() error {
	if u.blocks != nil {
		return badRequest(`"blocks" given twice, or with clknblocks`)
	}
	u.blocks = startPut(u.ctx, u.s.blobs, linkage.BlocksKey(u.a.project.ID, u.a.party, u.a.attempt))
	u.bw = linkage.NewBlocksWriter(u.blocks)
	return nil
}

// encodings reads the value of "clks", "clknblocks" or "encodings".
func (u *jsonUpload) encodings(key string) error {
	t, err := u.dec.Token()
	if err != nil {
		return err
	}
	d, _ := t.(json.Delim)
	if key == "encodings" && d == '{' {
		return u.encodingsFile()
	}
	if d != '[' {
		return badRequest("%q must be an array", key)
	}
	if key == "clknblocks" {
		if err := u.startBlocks(); err != nil {
			return err
		}
	}
	for u.dec.More() {
		if key != "clknblocks" {
			t, err := u.dec.Token()
			if err != nil {
				return err
			}
			if err := u.record(t); err != nil {
				return err
			}
			continue
		}
		row := u.records
		if err := u.delim('[', fmt.Sprintf("clknblocks record %d must be an array [clk, block, ...]", row)); err != nil {
			return err
		}
		t, err := u.dec.Token()
		if err != nil {
			return err
		}
		if err := u.record(t); err != nil {
			return err
		}
		if err := u.writeBlocks(row); err != nil {
			return err
		}
	}
	_, err = u.dec.Token() // ']'
	return err
}

// writeBlocks reads the block ids (strings or numbers) of row up to the end of the current array and
// writes them to the blocks file.
func (u *jsonUpload) writeBlocks(row int64) error {
	ids, err := u.blockIDs(row)
	if err != nil {
		return err
	}
	return u.bw.Write(row, ids)
}

func (u *jsonUpload) blockIDs(row int64) ([]string, error) {
	var ids []string
	for u.dec.More() {
		t, err := u.dec.Token()
		if err != nil {
			return nil, err
		}
		var id string
		switch v := t.(type) {
		case string:
			id = v
		case json.Number:
			id = v.String()
		default:
			return nil, badRequest("record %d: block ids must be strings or numbers", row)
		}
		l := u.s.cfg.Limits
		if len(id) > l.MaxBlockIDBytes {
			return nil, &linkage.LimitError{Limit: "max-block-id-bytes", Max: int64(l.MaxBlockIDBytes), Got: int64(len(id))}
		}
		if len(ids) == l.MaxBlocksPerRecord {
			return nil, &linkage.LimitError{Limit: "max-blocks-per-record", Max: int64(l.MaxBlocksPerRecord), Got: int64(len(ids) + 1)}
		}
		ids = append(ids, id)
	}
	_, err := u.dec.Token() // ']'
	return ids, err
}

// blockMap reads "blocks": {"<row>": ["block", ...], ...} or {"file": ...}.
func (u *jsonUpload) blockMap() error {
	if err := u.delim('{', `"blocks" must be an object mapping record index to block ids`); err != nil {
		return err
	}
	if err := u.startBlocks(); err != nil {
		return err
	}
	for u.dec.More() {
		t, err := u.dec.Token()
		if err != nil {
			return err
		}
		k, _ := t.(string)
		if k == "file" || k == "credentials" { // {"file": ..., "credentials": ...}: in the object store
			file, err := u.objectFile(k, "blocks")
			if err != nil {
				return err
			}
			return u.blocksFile(file)
		}
		if err := u.blockEntry(k, "blocks: ", ""); err != nil {
			return err
		}
	}
	_, err := u.dec.Token() // '}'
	return err
}

// blockEntry reads the block ids of record key k ("<row>": [...], the key consumed) and
// records them; keyWhere and arrayWhere prefix the error messages with where the map is.
func (u *jsonUpload) blockEntry(k, keyWhere, arrayWhere string) error {
	row, err := strconv.ParseInt(k, 10, 64)
	if err != nil || row < 0 {
		return badRequest("%skey %q is not a record index", keyWhere, k)
	}
	if max := u.s.cfg.Limits.MaxUploadRecords; row >= max {
		return &linkage.LimitError{Limit: "max-upload-records", Max: max, Got: row + 1}
	}
	// A row named twice would get both lists: more blocks than max-blocks-per-record.
	if w := int(row / 64); w >= len(u.seen) {
		u.seen = append(u.seen, make([]uint64, w+1-len(u.seen))...)
	}
	if u.seen[row/64]&(1<<(row%64)) != 0 {
		return badRequest("%sblocks of record %d given twice", keyWhere, row)
	}
	u.seen[row/64] |= 1 << (row % 64)
	if err := u.delim('[', fmt.Sprintf("%sblocks of record %d must be an array", arrayWhere, row)); err != nil {
		return err
	}
	if err := u.writeBlocks(row); err != nil {
		return err
	}
	u.maxRow = max(u.maxRow, row)
	return nil
}

func (u *jsonUpload) external() (linkage.ExternalAccess, error) {
	ext, ok := u.s.blobs.(linkage.ExternalAccess)
	if !ok {
		return nil, notEnabled("object-store uploads are not enabled on this server (it stores blobs locally); send the encodings inline or to /binaryclks")
	}
	return ext, nil
}

// encodingsFile reads {"file": {...}, "credentials"?: {...}} (the opening '{' consumed) and
// copies the encodings object the party put in its upload area: an object named "*.json" holds
// {"clks": [...]} and is decoded like an inline upload; any other holds binary records whose
// size and count come from the object's metadata (hash-size, hash-count), else from the
// request's Hash-Size and Hash-Count headers (api.md, "Object-store uploads").
func (u *jsonUpload) encodingsFile() error {
	file, err := u.objectFile("", "encodings")
	if err != nil {
		return err
	}
	obj, err := u.openExternal(file, "encodings")
	if err != nil {
		return err
	}
	defer obj.Close()
	l := u.s.cfg.Limits
	if strings.HasSuffix(file.Path, ".json") {
		in := newTokenLimit(&capReader{r: obj, max: l.MaxUploadBytes, limit: "max-upload-bytes"}, l.MaxTokenBytes)
		err := engine.ScanCLKJSON(in, func(s string) error { return u.record(s) })
		var p *problem
		var le *linkage.LimitError
		if err != nil && !errors.As(err, &p) && !errors.As(err, &le) {
			return badRequest("encodings file %s: %v", file.Path, err)
		}
		return err
	}
	size, err := headerOrMeta(obj.Metadata, u.r.Header, "Hash-Size")
	if err != nil {
		return err
	}
	want := expectedSize(u.a)
	if size == 0 {
		size = int64(want)
	}
	if size == 0 {
		return badRequest("the encodings file %s needs its CLK size: object metadata hash-size or the Hash-Size header", file.Path)
	}
	// The same rules and limits as a direct upload, checked before and while copying.
	if err := u.s.checkHashSize(size, strconv.FormatInt(size, 10)); err != nil {
		return err
	}
	if err := sizeAgrees(u.a, size); err != nil {
		return err
	}
	count, err := headerOrMeta(obj.Metadata, u.r.Header, "Hash-Count")
	if err != nil {
		return err
	}
	u.rec = engine.NewRecordDecoder(int(size))
	capped := &capReader{r: obj, max: l.MaxUploadBytes, limit: "max-upload-bytes"}
	if recs := l.MaxUploadRecords * size; recs < capped.max {
		capped.max, capped.limit, capped.unit = recs, "max-upload-records", size
	}
	n, err := u.s.blobs.Put(u.ctx, linkage.UploadKey(u.a.project.ID, u.a.party, u.a.attempt), capped)
	if err != nil {
		return fmt.Errorf("copy encodings file: %w", err)
	}
	if n == 0 || n%size != 0 || (count > 0 && n != count*size) {
		return badRequest("the encodings file has %d bytes, not hash-count × hash-size = %d × %d", n, count, size)
	}
	u.records = n / size
	return nil
}

// headerOrMeta reads a positive integer from the object's user metadata ("hash-size"), else
// from the request header of the same name; 0 when neither is given.
func headerOrMeta(meta map[string]string, h http.Header, name string) (int64, error) {
	v, ok := meta[strings.ToLower(name)]
	if !ok {
		v = h.Get(name)
	}
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil || n < 1 {
		return 0, badRequest("%s must be a positive integer, got %q", name, v)
	}
	return n, nil
}

// openExternal opens an object the party named: 403 outside its own upload area.
func (u *jsonUpload) openExternal(ref linkage.ObjectRef, what string) (*linkage.ExternalObject, error) {
	ext, err := u.external()
	if err != nil {
		return nil, err
	}
	obj, err := ext.OpenExternal(u.ctx, ref, externalPrefix(u.a))
	switch {
	case errors.Is(err, linkage.ErrForbidden):
		return nil, problemf(http.StatusForbidden, "Forbidden", "%s file: %v", what, err)
	case errors.Is(err, linkage.ErrNotFound), errors.Is(err, linkage.ErrInvalid):
		return nil, badRequest("cannot read the %s file: %v", what, err)
	case err != nil:
		return nil, fmt.Errorf("read the %s file: %w", what, err)
	}
	return obj, nil
}

// capReader reads r and fails with a LimitError once it holds more than max bytes (max/unit
// units of the limit, when unit > 0): an external object is copied under the limits of a
// direct upload, without trusting its stated size.
type capReader struct {
	r     io.Reader
	max   int64
	limit string
	unit  int64
	n     int64
}

func (c *capReader) Read(p []byte) (int, error) {
	if int64(len(p)) > c.max-c.n+1 {
		p = p[:c.max-c.n+1]
	}
	k, err := c.r.Read(p)
	if c.n += int64(k); c.n > c.max {
		le := &linkage.LimitError{Limit: c.limit, Max: c.max}
		if c.unit > 0 {
			le.Max /= c.unit
		}
		return 0, le
	}
	return k, err
}

// blocksFile reads the blocks object the party put in its upload area: it holds
// {"blocks": {"<row>": ["block", ...]}, ...}; other keys (the client's "meta") are skipped.
func (u *jsonUpload) blocksFile(file linkage.ObjectRef) error {
	obj, err := u.openExternal(file, "blocks")
	if err != nil {
		return err
	}
	defer obj.Close()
	outer := u.dec
	u.dec = json.NewDecoder(newTokenLimit(&capReader{r: obj, max: u.s.cfg.Limits.MaxUploadBytes, limit: "max-upload-bytes"},
		u.s.cfg.Limits.MaxTokenBytes))
	u.dec.UseNumber()
	defer func() { u.dec = outer }()
	const want = `the blocks file must hold {"blocks": {"<record index>": ["block id", ...]}}`
	if err := u.delim('{', want); err != nil {
		return err
	}
	found := false
	for u.dec.More() {
		t, err := u.dec.Token()
		if err != nil {
			return err
		}
		if k, _ := t.(string); k != "blocks" || found {
			if err := u.skip(); err != nil {
				return err
			}
			continue
		}
		found = true
		if err := u.delim('{', want); err != nil {
			return err
		}
		for u.dec.More() {
			t, err := u.dec.Token()
			if err != nil {
				return err
			}
			k, _ := t.(string)
			if err := u.blockEntry(k, "blocks file: ", "blocks file: "); err != nil {
				return err
			}
		}
		if _, err := u.dec.Token(); err != nil { // '}' of "blocks"
			return err
		}
	}
	if !found {
		return badRequest("%s", want)
	}
	return nil
}

// decodeRef decodes the next value (a small object of an object-store reference) into v,
// reading at most max-body-bytes for it.
func (u *jsonUpload) decodeRef(v any, what string) error {
	u.lim.limitWindow(u.s.cfg.Limits.MaxBodyBytes, "max-body-bytes")
	defer u.lim.limitWindow(0, "")
	if err := u.dec.Decode(v); err != nil {
		var le *linkage.LimitError
		if errors.As(err, &le) {
			return err
		}
		return badRequest("%s: %v", what, err)
	}
	return nil
}

// objectFile reads the rest of an object-store reference, {"file": {...}, "credentials"?: {...}}
// in any key order, whose '{' (and, when first is not empty, first key) was consumed: the one
// parser of that shape, for encodings and blocks. Only "file" is kept: the service reads with its
// own access, whatever credentials the client passes back.
func (u *jsonUpload) objectFile(first, what string) (linkage.ObjectRef, error) {
	var file *linkage.ObjectRef
	k, have := first, first != ""
	for have || u.dec.More() {
		if !have {
			t, err := u.dec.Token()
			if err != nil {
				return linkage.ObjectRef{}, err
			}
			k, _ = t.(string)
		}
		have = false
		var err error
		if k == "file" {
			err = u.decodeRef(&file, what+" file")
		} else {
			err = u.skip()
		}
		if err != nil {
			return linkage.ObjectRef{}, err
		}
	}
	if _, err := u.dec.Token(); err != nil { // '}'
		return linkage.ObjectRef{}, err
	}
	if file == nil || file.Bucket == "" || file.Path == "" {
		return linkage.ObjectRef{}, badRequest(`%s "file" needs bucket and path`, what)
	}
	return *file, nil
}
