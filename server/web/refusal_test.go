package web

import (
	"strings"
	"testing"

	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/refusal"
)

// TestEveryRefusalHasWords: each refusal a domain package can return is
// worded, in every language, by the one table in refusal.go.
func TestEveryRefusalHasWords(t *testing.T) {
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		scope, field string
		reason       refusal.Reason
	}{
		{"profile", "email", refusal.Invalid}, {"profile", "email", refusal.TooLong}, {"profile", "email", refusal.Budget},
		{"profile", "phone", refusal.Invalid}, {"profile", "phone", refusal.TooLong},
		{"profile", "current", refusal.Wrong}, {"profile", "current", refusal.Missing},
		{"profile", "password", refusal.Rules}, {"profile", "password", refusal.Same}, {"profile", "confirm", refusal.Mismatch},
		{"activation", "email", refusal.Invalid}, {"activation", "email", refusal.Budget},
		{"activation", "accept", refusal.Missing}, {"activation", "choice", refusal.Missing},
		{"activation", "to", refusal.Invalid}, {"activation", "to", refusal.Loop}, {"activation", "to", refusal.Budget},
		{"activation", "password", refusal.Rules}, {"activation", "password", refusal.Same}, {"activation", "confirm", refusal.Mismatch},
		{"recovery", "input", refusal.Missing}, {"recovery", "input", refusal.Invalid}, {"recovery", "consent", refusal.Missing},
		{"children", "current", refusal.Wrong}, {"children", "current", refusal.Missing},
		{"children", "password", refusal.Rules}, {"children", "confirm", refusal.Mismatch},
		{"desk", "code", refusal.Pending}, {"desk", "code", refusal.NoAddress}, {"desk", "code", refusal.Throttled},
		{"desk", "email", refusal.Invalid}, {"desk", "email", refusal.TooLong}, {"desk", "email", refusal.Missing},
		{"desk", "email", refusal.Same}, {"desk", "email", refusal.Budget},
		{"desk", "current", refusal.Wrong}, {"desk", "current", refusal.Missing}, {"desk", "population", refusal.Invalid},
		{"recovery", "account", refusal.Choose}, {"recovery", "password", refusal.Rules}, {"recovery", "confirm", refusal.Mismatch},
	} {
		for _, lang := range []string{"fr", "en"} {
			w := word(cat.For(lang), tt.scope, refusal.Refusal{Field: tt.field, Reason: tt.reason})
			if w == "" || strings.Contains(w, ".err_") {
				t.Errorf("%s %s/%s/%s has no words: %q", lang, tt.scope, tt.field, tt.reason, w)
			}
		}
	}
}
