package account

import (
	"strings"
	"testing"
)

func TestHashVerify(t *testing.T) {
	h := NewHasher(DefaultParams(), 1)
	enc, err := h.Hash("correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(enc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hash %q is not PHC argon2id with the default parameters", enc)
	}
	tests := []struct {
		name, pw string
		ok       bool
	}{
		{"right", "correct horse battery staple", true},
		{"wrong", "correct horse battery stapler", false},
		{"empty", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, rehash, err := h.Verify(enc, tt.pw)
			if err != nil || ok != tt.ok || rehash {
				t.Errorf("Verify = %v, %v, %v; want %v", ok, rehash, err, tt.ok)
			}
		})
	}
	weaker := NewHasher(Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	old, _ := weaker.Hash("pw")
	if ok, rehash, _ := h.Verify(old, "pw"); !ok || !rehash {
		t.Errorf("old-parameter hash: ok=%v rehash=%v, want true true", ok, rehash)
	}
}

func TestVerifyRejectsMalformed(t *testing.T) {
	h := NewHasher(DefaultParams(), 1)
	for _, s := range []string{"", "plain", "$argon2i$v=19$m=1,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
		"$argon2id$v=19$m=99999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA", "$argon2id$v=19$m=64,t=1,p=1$!!$aGFzaA"} {
		if _, _, err := h.Verify(s, "x"); err != ErrBadHash {
			t.Errorf("Verify(%q) err = %v, want ErrBadHash", s, err)
		}
	}
}

func BenchmarkHash(b *testing.B) {
	h := NewHasher(DefaultParams(), 1)
	for b.Loop() {
		if _, err := h.Hash("correct horse battery staple"); err != nil {
			b.Fatal(err)
		}
	}
}
