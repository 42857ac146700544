package engine

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ScanCLKJSON reads a {"clks": ["<base64>", ...]} document token by token
// (other top-level keys are skipped, as the reference's clients add "meta")
// and hands each record's base64 string to fn, so memory does not grow with
// the document. It is the one reader of this form: `linkage link` files and
// object-store `.json` encodings files.
func ScanCLKJSON(r io.Reader, fn func(record string) error) error {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{'); err != nil {
		return err
	}
	found := false
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("bad JSON: %w", err)
		}
		if tok != "clks" {
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return fmt.Errorf("bad JSON: %w", err)
			}
			continue
		}
		found = true
		if err := expectDelim(dec, '['); err != nil {
			return fmt.Errorf(`"clks": %w`, err)
		}
		for i := 0; dec.More(); i++ {
			var s string
			if err := dec.Decode(&s); err != nil {
				return fmt.Errorf("record %d: not a base64 string: %w", i, err)
			}
			if err := fn(s); err != nil {
				return err
			}
		}
		if _, err := dec.Token(); err != nil {
			return fmt.Errorf("bad JSON: %w", err)
		}
	}
	if !found {
		return errors.New(`no "clks" key: expected {"clks": ["<base64>", ...]}`)
	}
	return nil
}

// ReadCLKJSON reads a {"clks": [...]} document into CLKs: every record valid
// base64 of the same size, a positive multiple of 8 bytes.
func ReadCLKJSON(r io.Reader) (*CLKs, error) {
	var data []byte
	var rd RecordDecoder
	err := ScanCLKJSON(r, func(s string) error {
		b, err := rd.Decode(s)
		data = append(data, b...)
		return err
	})
	if err != nil {
		return nil, err
	}
	if rd.Count() == 0 {
		return nil, ErrEmpty
	}
	return New(data, rd.Size())
}

func expectDelim(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("bad JSON: %w", err)
	}
	if tok != d {
		return fmt.Errorf("bad JSON: expected %q, found %v", d, tok)
	}
	return nil
}
