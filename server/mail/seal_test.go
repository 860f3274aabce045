package mail

import (
	"bytes"
	"errors"
	"testing"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

func TestSealOpen(t *testing.T) {
	aead := newAEAD(testSecret)
	m := Message{To: "anne@example.fr", Subject: "Code", Text: "code 123456", HTML: "<b>123456</b>", Lang: "fr"}
	s, err := seal(aead, "id1", m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(s, []byte("123456")) || bytes.Contains(s, []byte("anne")) {
		t.Fatal("the seal contains plaintext")
	}
	got, err := open(aead, Envelope{ID: "id1", Kind: "recovery_code", AccountID: "p001", Sealed: s})
	m.Kind, m.AccountID = "recovery_code", "p001"
	if err != nil || got != m {
		t.Fatalf("open = %+v, %v; want %+v", got, err, m)
	}
	again, _ := seal(aead, "id1", m)
	if bytes.Equal(again, s) {
		t.Error("two seals of one message are equal: the nonce is not random")
	}

	flip := func(i int) []byte {
		b := bytes.Clone(s)
		b[i] ^= 1
		return b
	}
	tests := []struct {
		name   string
		sealed func() []byte
		id     string
		secret []byte
	}{
		{"nonce changed", func() []byte { return flip(0) }, "id1", testSecret},
		{"ciphertext changed", func() []byte { return flip(20) }, "id1", testSecret},
		{"tag changed", func() []byte { return flip(len(s) - 1) }, "id1", testSecret},
		{"truncated", func() []byte { return s[:20] }, "id1", testSecret},
		{"empty", func() []byte { return nil }, "id1", testSecret},
		{"moved to another document", func() []byte { return s }, "id2", testSecret},
		{"another secret", func() []byte { return s }, "id1", []byte("another secret, also 32 bytes!!!")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := open(newAEAD(tt.secret), Envelope{ID: tt.id, Sealed: tt.sealed()})
			if !errors.Is(err, errOpen) {
				t.Errorf("open = %v; want errOpen", err)
			}
		})
	}
}

func TestNewAEADRefusesEmptySecret(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for an empty secret")
		}
	}()
	newAEAD(nil)
}
