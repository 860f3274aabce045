package recovery

import (
	"strings"
	"testing"
)

func TestNormaliseCode(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"T3A8XQ", "T3A8XQ", true},
		{"t3a8xq", "T3A8XQ", true},
		{" T3A-8XQ ", "T3A8XQ", true},
		{"T3 A8 XQ", "T3A8XQ", true},
		{"T3A8X", "", false},   // too short
		{"T3A8XQZ", "", false}, // too long
		{"T0A8XQ", "", false},  // 0 is not in the alphabet
		{"TOA8XQ", "", false},  // nor O
		{"T1A8XQ", "", false},
		{"TIA8XQ", "", false},
		{"TLA8XQ", "", false},
		{"T3A8XÉ", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, ok := NormaliseCode(tt.in)
			if got != tt.want || ok != tt.ok {
				t.Errorf("NormaliseCode(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestNewCode(t *testing.T) {
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 3000 {
		c := newCode()
		if n, ok := NormaliseCode(c); !ok || n != c {
			t.Fatalf("newCode() = %q is not a valid code", c)
		}
		seen[c] = true
		for _, r := range c {
			counts[r]++
		}
	}
	if len(seen) < 2990 {
		t.Errorf("only %d distinct codes in 3000", len(seen))
	}
	// 18,000 characters over 31 letters: about 580 each. A biased draw
	// (modulo) would push the first letters far above the others.
	for _, r := range CodeAlphabet {
		if counts[r] < 430 || counts[r] > 740 {
			t.Errorf("character %q drawn %d times, expected about 580", r, counts[r])
		}
	}
}

func TestHashCode(t *testing.T) {
	k := []byte(strings.Repeat("k", 32))
	h := hashCode(k, "flow1", "T3A8XQ")
	if strings.Contains(h, "T3A8XQ") || len(h) != 64 {
		t.Fatalf("hash %q", h)
	}
	if !equalHash(h, hashCode(k, "flow1", "T3A8XQ")) {
		t.Error("same code, different hash")
	}
	if equalHash(h, hashCode(k, "flow2", "T3A8XQ")) {
		t.Error("a code is valid for another flow")
	}
	if equalHash(h, hashCode([]byte(strings.Repeat("j", 32)), "flow1", "T3A8XQ")) {
		t.Error("the key is ignored")
	}
	if equalHash("", "") {
		t.Error("two empty hashes match: a flow without a code would accept anything")
	}
}

func FuzzNormaliseCode(f *testing.F) {
	for _, s := range []string{"T3A8XQ", "t3-a8 xq", "", "ÉÉÉÉÉÉ", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := NormaliseCode(s)
		if !ok {
			return
		}
		if len(c) != CodeLength {
			t.Fatalf("%q → %q has the wrong length", s, c)
		}
		for _, r := range c {
			if !strings.ContainsRune(CodeAlphabet, r) {
				t.Fatalf("%q → %q has %q outside the alphabet", s, c, r)
			}
		}
	})
}
