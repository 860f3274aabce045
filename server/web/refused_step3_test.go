package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestRecoveryPasswordRefusedKeepsWhatItCan: a refused step 3 shows every
// problem at once, keeps the chosen account, and leaves the checklist
// consistent with the emptied fields, the rules missed named in the
// message (issue 16, item 5).
func TestRecoveryPasswordRefusedKeepsWhatItCan(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", anneMail)
	code := a.smtp.Wait(anneMail, 1, 5*time.Second).Code()
	a.step(paths.RecoveryCode, url.Values{"code": {code}})

	for _, tt := range []struct {
		name    string
		form    url.Values
		errors  []string
		checked string
	}{
		{"no account, too short, mismatch", url.Values{"password": {"court"}, "confirm": {"autre"}},
			[]string{"#rec-account-error", "#rec-password-error", "#rec-confirm-error"}, ""},
		{"an account, the person's name", url.Values{"account": {"p002"}, "password": {"Paul Durand 2026 !"}, "confirm": {"Paul Durand 2026 !"}},
			[]string{"#rec-password-error"}, "p002"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp, html := a.step(paths.RecoveryPassword, tt.form)
			d, _ := goquery.NewDocumentFromReader(strings.NewReader(html))
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Errorf("status %d", resp.StatusCode)
			}
			for _, sel := range tt.errors {
				if d.Find(sel).Text() == "" {
					t.Errorf("%s is not shown; errors: %q", sel, d.Find(".error").Text())
				}
			}
			if n := d.Find(".error").Length(); n != len(tt.errors) {
				t.Errorf("%d errors shown, want %d", n, len(tt.errors))
			}
			msg := d.Find("#rec-password-error").Text()
			if !strings.Contains(msg, "doit") {
				t.Errorf("the password's message does not name the rules missed: %q", msg)
			}
			if got := d.Find(`input[name="account"][checked]`).AttrOr("value", ""); got != tt.checked {
				t.Errorf("account checked %q, want %q", got, tt.checked)
			}
			// The fields are empty: no rule may show met but « at most N
			// characters », which an empty field meets.
			if v := d.Find("#new-password").AttrOr("value", ""); v != "" {
				t.Error("the password was sent back into the page")
			}
			if n := d.Find(`#pw-rules li[data-met="true"]`).Length(); n > 1 {
				t.Errorf("%d rules show met for empty fields", n)
			}
		})
	}
	if !passwordOK(t, a, "p001", annePassword) || !passwordOK(t, a, "p002", annePassword) {
		t.Error("a refused step 3 changed a password")
	}
}
