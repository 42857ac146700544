package linkage

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
)

// NewID returns a 48-character lowercase hex string from crypto/rand: the form of every
// identifier and token of the API.
func NewID() string {
	var b [24]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go ≥ 1.24)
	return hex.EncodeToString(b[:])
}

// HashToken is how tokens are stored: a database leak does not reveal usable tokens. The tokens
// carry 192 random bits, so a plain SHA-256 (no salt, no stretching) is enough.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// TokenMatches compares a presented token with a stored hash in constant time.
func TokenMatches(token string, hash []byte) bool {
	if len(hash) != sha256.Size {
		return false
	}
	h := HashToken(token)
	return subtle.ConstantTimeCompare(h, hash) == 1
}

// ValidID reports whether s has the form of an identifier (48 lowercase hex characters).
func ValidID(s string) bool {
	if len(s) != 48 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
