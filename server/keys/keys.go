// Package keys derives one key per purpose from SESAME_SECRET, so that a
// value valid for one use (a CSRF token, a code hash, an encrypted mail) is
// never valid for another.
package keys

import (
	"crypto/hmac"
	"crypto/sha256"
)

// Derive returns a 32-byte key for purpose: HMAC-SHA256(secret, "sesame/"+purpose).
func Derive(secret []byte, purpose string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("sesame/" + purpose))
	return m.Sum(nil)
}
