package http

import (
	"io"

	"github.com/linkage-platform/linkage/app/linkage"
)

// tokenLimit bounds what encoding/json buffers while an upload streams through a Decoder: the
// Decoder holds a whole token (a string, a number, a run of white space) in memory before it
// returns it, so a 200 MB base64 string would be buffered, in several copies, before any
// check on its value. tokenLimit follows the JSON lexically as the bytes pass and fails the
// read as soon as one token grows beyond max bytes, before the Decoder has more of it than
// that.
type tokenLimit struct {
	r        io.Reader
	max      int64
	inString bool
	escape   bool
	run      int64 // bytes of the current string, or since the last structural byte outside one

	// window > 0 bounds the bytes read until it is reset: a whole value decoded at once
	// (json.Decoder.Decode of an object-store reference) cannot grow beyond it.
	window, read int64
	windowName   string
}

func newTokenLimit(r io.Reader, max int64) *tokenLimit { return &tokenLimit{r: r, max: max} }

func (t *tokenLimit) Read(p []byte) (int, error) {
	if t.window > 0 {
		if t.read >= t.window {
			return 0, &linkage.LimitError{Limit: t.windowName, Max: t.window}
		}
		p = p[:min(int64(len(p)), t.window-t.read)]
	}
	n, err := t.r.Read(p)
	t.read += int64(n)
	for i, c := range p[:n] {
		switch {
		case t.inString && t.escape:
			t.escape = false
		case t.inString && c == '\\':
			t.escape = true
		case t.inString && c == '"':
			t.inString, t.run = false, -1
		case t.inString:
		case c == '"':
			t.inString, t.run = true, -1
		case c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':':
			t.run = -1
		}
		if t.run++; t.run > t.max {
			return i, &linkage.LimitError{Limit: "max-json-token-bytes", Max: t.max}
		}
	}
	return n, err
}

// limitWindow bounds the bytes read from now on to n (named limit in the error); 0 lifts it.
func (t *tokenLimit) limitWindow(n int64, limit string) {
	t.window, t.read, t.windowName = n, 0, limit
}
