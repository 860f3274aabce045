package i18n

import (
	"io/fs"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
)

func keys(t *testing.T, lang string) []string {
	t.Helper()
	b, err := fs.ReadFile(locales, "locales/"+lang+".yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s.yaml: %v", lang, err)
	}
	return slices.Sorted(maps.Keys(m))
}

// TestCataloguesMatch keeps French and English in step: a key added to one
// catalogue only would show its raw id to half the users.
func TestCataloguesMatch(t *testing.T) {
	fr, en := keys(t, "fr"), keys(t, "en")
	for _, k := range fr {
		if !slices.Contains(en, k) {
			t.Errorf("en.yaml lacks %q", k)
		}
	}
	for _, k := range en {
		if !slices.Contains(fr, k) {
			t.Errorf("fr.yaml lacks %q", k)
		}
	}
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range Languages() {
		for _, k := range fr {
			if got := c.For(lang).T(k, "Count", 2, "N", 2, "Minutes", 2); got == k || got == "" {
				t.Errorf("%s: %q does not translate", lang, k)
			}
		}
	}
}

// TestEnglishQuotes: English copy uses English quotation marks, never the
// French « » (issue 16, item 13).
func TestEnglishQuotes(t *testing.T) {
	b, err := fs.ReadFile(locales, "locales/en.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i, line := range strings.Split(string(b), "\n") {
		if strings.ContainsAny(line, "«»") {
			t.Errorf("en.yaml:%d: French quotation marks in English: %s", i+1, line)
		}
	}
}

func TestMatch(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ choice, accept, want string }{
		{"", "", "fr"},
		{"", "en-GB,en;q=0.9", "en"},
		{"", "de-DE,de;q=0.9", "fr"},
		{"", "de-DE,en;q=0.5", "en"},
		{"", "fr-CA,en;q=0.8", "fr"},
		{"fr", "en-US", "fr"},
		{"en", "fr-FR", "en"},
		{"xx", "en", "en"},
		{"", "!!garbage", "fr"},
	}
	for _, tt := range tests {
		t.Run(tt.choice+"|"+tt.accept, func(t *testing.T) {
			if got := c.Match(tt.choice, tt.accept); got != tt.want {
				t.Errorf("Match(%q, %q) = %q, want %q", tt.choice, tt.accept, got, tt.want)
			}
		})
	}
	if got := c.For("en").T("login.title"); got != "Sign in" {
		t.Errorf("en login.title = %q", got)
	}
	if got := c.For("zz").T("login.title"); got != "Connexion" {
		t.Errorf("fallback login.title = %q", got)
	}
}

// TestFrenchFirstOfTheMonth: « le 1er janvier », « le 2 janvier ».
func TestFrenchFirstOfTheMonth(t *testing.T) {
	c, err := New()
	if err != nil {
		t.Fatal(err)
	}
	fr := c.For("fr")
	for _, tt := range []struct {
		day  int
		want string
	}{{1, "1er janvier 2027"}, {2, "2 janvier 2027"}, {21, "21 janvier 2027"}} {
		if got := fr.T("date.day_month_year", "Day", tt.day, "Month", "janvier", "Year", 2027); got != tt.want {
			t.Errorf("day %d: %q, want %q", tt.day, got, tt.want)
		}
	}
	if got := fr.T("date.day_month", "Day", 1, "Month", "mars"); got != "1er mars" {
		t.Errorf("day_month: %q", got)
	}
}
