package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestActivationCheckBeforeTheLink: « J'ai confirmé l'adresse, continuer »
// before the link is opened says the address is not confirmed yet and
// offers « Renvoyer le lien », which sends it again (issue 16, item 6).
func TestActivationCheckBeforeTheLink(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedStaff()
	a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	_, d := a.act(paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}})
	check := d.Find(`form[method="get"] input[name="check"]`)
	if check.Length() != 1 {
		t.Fatal("« J'ai confirmé l'adresse » does not say it is a check")
	}
	if d.Find(`[data-testid="not-confirmed"]`).Length() != 0 {
		t.Error("« pas encore confirmée » shown before any check")
	}
	d = doc(t, a.get(paths.Activation+"?check=1"))
	box := d.Find(`[data-testid="not-confirmed"]`)
	if !strings.Contains(box.Text(), "n'est pas encore confirmée") || !strings.Contains(box.Text(), "mh.dupont@example.org") {
		t.Fatalf("after the check: %q", d.Find("main").Text())
	}
	// The first link must have arrived before the second is asked, or the
	// two mails may reach the SMTP server in either order.
	a.smtp.Wait("mh.dupont@example.org", 1, 5*time.Second)
	form := url.Values{}
	form.Set("email", box.Find(`input[name="email"]`).AttrOr("value", ""))
	a.advance(time.Second)
	a.act(box.Find("form").AttrOr("action", ""), form)
	a.smtp.Wait("mh.dupont@example.org", 2, 5*time.Second)

	// Once the link is opened, the same button moves on.
	a.confirmLink(t, "mh.dupont@example.org", 2)
	if d := doc(t, a.get(paths.Activation+"?check=1")); stepNum(d) != "charter" || d.Find(`[data-testid="not-confirmed"]`).Length() != 0 {
		t.Errorf("after the link: step %q, %q", stepNum(d), d.Find(`[data-testid="not-confirmed"]`).Text())
	}
}
