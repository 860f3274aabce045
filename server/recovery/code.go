package recovery

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// CodeAlphabet has no 0/O, 1/I/L: characters nobody confuses when copying
// a code from a phone's mail app to another screen.
const CodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// CodeLength is the number of characters of a code: 31^6 ≈ 887 million
// codes, against at most 5 tries each.
const CodeLength = 6

// newCode draws a code from crypto/rand without modulo bias.
func newCode() string {
	b := make([]byte, CodeLength)
	for i := range b {
		b[i] = CodeAlphabet[randIndex(len(CodeAlphabet))]
	}
	return string(b)
}

func randIndex(n int) int {
	// Rejection sampling: bytes of 248 and more would favour the first
	// letters of the alphabet.
	limit := 256 - 256%n
	var one [1]byte
	for {
		_, _ = rand.Read(one[:])
		if int(one[0]) < limit {
			return int(one[0]) % n
		}
	}
}

// NormaliseCode turns what a person typed into a code: case-insensitive,
// spaces and dashes ignored. ok is false when the result cannot be a code,
// which is told to the person without spending one of their tries.
func NormaliseCode(s string) (code string, ok bool) {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == ' ' || r == '-' || r == '\t' || r == '\u00a0' || r == '\u202f':
			continue
		case r >= 'a' && r <= 'z':
			r -= 'a' - 'A'
		}
		if b.Len() >= CodeLength || !strings.ContainsRune(CodeAlphabet, r) {
			return "", false
		}
		b.WriteRune(r)
	}
	if b.Len() != CodeLength {
		return "", false
	}
	return b.String(), true
}

// hashCode binds a code to its flow: HMAC-SHA256 keyed by a key derived from
// SESAME_SECRET. Only this hash is stored, so a database dump gives no code.
func hashCode(key []byte, flowID, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(flowID))
	m.Write([]byte{0})
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// equalHash compares two hex hashes in constant time.
func equalHash(a, b string) bool {
	return a != "" && b != "" && hmac.Equal([]byte(a), []byte(b))
}

// requestKey is a keyed hash of what was typed at step 1 (kind "address":
// of an address mailed), so that rate limits count per identifier or
// address without storing it.
func requestKey(key []byte, kind Kind, normalised string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(string(kind) + "\x00" + normalised))
	return hex.EncodeToString(m.Sum(nil))[:32]
}
