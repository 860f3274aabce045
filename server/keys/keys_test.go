package keys

import (
	"bytes"
	"testing"
)

func TestDerive(t *testing.T) {
	s := []byte("0123456789abcdef0123456789abcdef")
	a, b := Derive(s, "csrf"), Derive(s, "codes")
	if len(a) != 32 || bytes.Equal(a, b) {
		t.Fatalf("keys for two purposes: %x %x", a, b)
	}
	if !bytes.Equal(a, Derive(s, "csrf")) {
		t.Error("Derive is not deterministic")
	}
	if bytes.Equal(a, Derive([]byte("another secret, another secret!!"), "csrf")) {
		t.Error("Derive ignores the secret")
	}
}
