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

func TestTokens(t *testing.T) {
	a, b := RandomHex(32), RandomHex(32)
	if len(a) != 64 || a == b {
		t.Fatalf("RandomHex(32) = %q, %q", a, b)
	}
	// The SHA-256 of "abc", as published in FIPS 180-2.
	if got := HashToken("abc"); got != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad" {
		t.Errorf("HashToken(abc) = %s", got)
	}
}
