package web_test

import (
	"net/url"
	"testing"

	"github.com/sesame-edu/sesame/server/paths"
)

func TestCheckPassword(t *testing.T) {
	a := newTestApp(t)
	tok := a.csrfToken("/")
	tests := []struct {
		name, population, password, confirm string
		wantMet, wantTotal                  int
		wantMatch                           string
	}{
		{"staff default policy, short and common", "staff", "short", "", 2, 4, ""},
		{"staff default policy, good passphrase", "staff", "trois chats sur le toit", "trois chats sur le toit", 4, 4, "yes"},
		{"parents policy, no digit", "parents", "abcdefghij", "abcdefghi", 5, 6, "no"},
		{"students policy, accents refused", "students", "éléphant42", "", 3, 6, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.postForm(paths.PasswordCheck, url.Values{
				csrfField: {tok}, "population": {tt.population}, "password": {tt.password}, "confirm": {tt.confirm},
			}, "HX-Request", "true")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			d := doc(t, resp)
			items := d.Find(`[data-testid="checklist"] li`)
			met := d.Find(`[data-testid="checklist"] li[data-met="true"]`)
			if items.Length() != tt.wantTotal || met.Length() != tt.wantMet {
				t.Errorf("met %d of %d, want %d of %d: %q", met.Length(), items.Length(), tt.wantMet, tt.wantTotal, items.Text())
			}
			m := d.Find(`[data-testid="match"]`)
			switch {
			case tt.wantMatch == "" && m.Length() != 0:
				t.Error("match line shown without a confirmation")
			case tt.wantMatch == "yes" && !m.HasClass("met"):
				t.Errorf("match = %q, want matching", m.Text())
			case tt.wantMatch == "no" && m.HasClass("met"):
				t.Errorf("match = %q, want different", m.Text())
			}
			if sum := d.Find("#pw-summary[hx-swap-oob]").Text(); sum == "" {
				t.Error("no polite summary for screen readers")
			}
		})
	}
	if resp := a.postForm(paths.PasswordCheck, url.Values{"password": {"x"}}); resp.StatusCode != 403 {
		t.Errorf("without CSRF token: status %d", resp.StatusCode)
	}
}
