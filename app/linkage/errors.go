package linkage

import (
	"errors"
	"fmt"
	"strconv"
)

// Sentinel errors; implementations wrap them with context, callers test with errors.Is.
var (
	// ErrNotFound: the object does not exist (or no longer exists).
	ErrNotFound = errors.New("not found")
	// ErrConflict: the object is not in a state that allows the operation (e.g. a spent token).
	ErrConflict = errors.New("conflict")
	// ErrInvalid: the input is malformed or out of range.
	ErrInvalid = errors.New("invalid")
	// ErrForbidden: the caller may not touch this object (e.g. outside its upload area).
	ErrForbidden = errors.New("forbidden")
	// ErrLimit: a configured limit was exceeded; see LimitError for which.
	ErrLimit = errors.New("limit exceeded")
	// ErrUnavailable: a backing service (database, queue, object store) cannot be reached now;
	// the API answers 503 and the client may retry.
	ErrUnavailable = errors.New("service unavailable")
)

// LimitError names the configured limit that was exceeded.
type LimitError struct {
	Limit string // the configuration key, e.g. "max-upload-records"
	Max   int64
	Got   int64 // the figure that exceeded Max, when known (0: not known)
}

func (e *LimitError) Error() string {
	msg := "limit " + e.Limit + " exceeded (maximum " + strconv.FormatInt(e.Max, 10)
	if e.Got > 0 {
		msg += ", got " + strconv.FormatInt(e.Got, 10)
	}
	return msg + ")"
}

// Unwrap makes errors.Is(err, ErrLimit) true.
func (e *LimitError) Unwrap() error { return ErrLimit }

func itoa(n int) string { return strconv.Itoa(n) }

// HashSizeError refuses an upload of size-byte CLKs into a project where party uploaded
// partySize-byte ones: the stores check it when they record the upload, so that concurrent
// uploads cannot both be accepted.
func HashSizeError(size, party, partySize int) error {
	return fmt.Errorf("CLKs of %d bytes, but party %d uploaded %d-byte CLKs: every party must use the same size: %w",
		size, party, partySize, ErrInvalid)
}

// ClaimLost is why an upload attempt can no longer release or record its claim on a party, now
// in state (ours: the party's attempt is still this one, e.g. already recorded): the stores
// return it when the claim moved on, so that both stores word it alike.
func ClaimLost(state UploadState, ours bool) error {
	switch {
	case state == UploadDone && ours:
		return fmt.Errorf("the upload is recorded already: %w", ErrConflict)
	case state == UploadDone:
		return fmt.Errorf("another upload attempt with the token was recorded: %w", ErrConflict)
	case state == UploadUploading:
		return fmt.Errorf("the claim was taken over by another upload attempt (this one stalled past the claim timeout): %w", ErrConflict)
	}
	return fmt.Errorf("the party holds no claim (the attempt's claim was released): %w", ErrConflict)
}

// Problem is an RFC 7807 problem detail, the body of every API error (application/problem+json):
// the server answers with it and the Go client decodes it.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Limit    string `json:"limit,omitempty"` // the configuration key of a breached limit
}

func (p *Problem) Error() string { return fmt.Sprintf("%d %s: %s", p.Status, p.Title, p.Detail) }
