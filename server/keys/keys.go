// Package keys derives one key per purpose from SESAME_SECRET, so that a
// value valid for one use (a CSRF token, a code hash, an encrypted mail) is
// never valid for another; it also draws the random tokens of links and
// cookies, and gives the only form in which they are stored.
package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
)

// Derive returns a 32-byte key for purpose: HMAC-SHA256(secret, "sesame/"+purpose).
func Derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sesame/" + purpose))
	return m.Sum(nil)
}

// RandomHex returns n bytes from crypto/rand, in hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand never fails; it crashes the program instead
	return hex.EncodeToString(b)
}

// HashToken is the stored form of a random token (a link's, a cookie's):
// its SHA-256 in hex. The token has enough entropy that no key or slow hash
// is needed, and a database dump gives no usable token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
