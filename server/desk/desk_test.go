package desk

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/account"
)

func TestMatches(t *testing.T) {
	a := account.Account{Identifier: "S300", FirstName: "Marie-Hélène", LastName: "Dupont", Email: "mh.dupont@exemple.fr"}
	for _, tc := range []struct {
		query string
		want  bool
	}{
		{"helene", true}, {"HÉLÈNE dupont", true}, {"marie helene", true}, {"s30", true}, {"exemple.fr", true},
		{"dupond", false}, {"", false}, {"   ", false}, {"helene martin", false},
	} {
		if got := Matches(a, tc.query); got != tc.want {
			t.Errorf("Matches(%q) = %v, want %v", tc.query, got, tc.want)
		}
	}
}

func TestMaskEmail(t *testing.T) {
	for in, want := range map[string]string{"jean@exemple.fr": "j•••@exemple.fr", "élodie@x.fr": "é•••@x.fr", "": "", "nope": ""} {
		if got := MaskEmail(in); got != want {
			t.Errorf("MaskEmail(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewProvisional(t *testing.T) {
	if bits := ProvisionalLength * math.Log2(float64(len(provisionalAlphabet))); bits < 60 {
		t.Fatalf("provisional passwords carry %.1f bits", bits)
	}
	seen := map[string]bool{}
	counts := map[rune]int{}
	for range 2000 {
		p := NewProvisional()
		if len(p) != ProvisionalLength || strings.ContainsAny(p, "0o1liI") || seen[p] {
			t.Fatalf("provisional password %q", p)
		}
		seen[p] = true
		for _, r := range p {
			counts[r]++
		}
	}
	// 26,000 symbols over 31: each about 839; a biased draw shows.
	for r, n := range counts {
		if n < 650 || n > 1050 {
			t.Errorf("symbol %q drawn %d times", r, n)
		}
	}
}

func TestMayActOn(t *testing.T) {
	roles := map[string]Role{"s210": Helpdesk, "secretariat": Helpdesk, "informatique": Admin}
	s := New(Deps{Role: func(id string) Role { return roles[id] }})
	acc := func(id string, st account.Status) account.Account { return account.Account{ID: id, Status: st} }
	agent, admin := acc("s210", account.StatusActive), acc("informatique", account.StatusActive)
	for _, tc := range []struct {
		name          string
		agent, target account.Account
		want          bool
	}{
		{"agent on a parent", agent, acc("p001", account.StatusActive), true},
		{"agent on an admin", agent, admin, false},
		{"agent on another agent", agent, acc("secretariat", account.StatusActive), false},
		{"agent on themselves", agent, agent, false},
		{"admin on an agent", admin, agent, true},
		{"a pending agent", acc("s210", account.StatusPending), acc("p001", account.StatusActive), false},
		{"a parent", acc("p001", account.StatusActive), acc("p002", account.StatusActive), false},
	} {
		if got := s.MayActOn(tc.agent, tc.target); got != tc.want {
			t.Errorf("%s: MayActOn = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestValidUntil(t *testing.T) {
	paris, _ := time.LoadLocation("Europe/Paris")
	got := ValidUntil(time.Date(2026, 9, 1, 10, 0, 0, 0, paris), 30)
	if want := time.Date(2026, 10, 1, 23, 59, 59, 0, paris); !got.Equal(want) {
		t.Errorf("ValidUntil = %v, want %v", got, want)
	}
}
