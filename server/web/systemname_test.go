package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/paths"
)

// calledPassUM is a school whose accounts are « PASS'UM » (letters.name).
func calledPassUM(o *app.Options) {
	sc := *o.School
	sc.Letters.Name = "PASS'UM"
	o.School = &sc
}

// TestPagesNameTheSchoolsAccounts: the pages that speak of the accounts
// themselves (privacy, an unknown CAS service, an application's bad
// request, signing out of every application) call them as the school's
// letters do: a person who activated « PASS'UM » is never asked to sign
// out of « Sésame », a name they have never seen.
func TestPagesNameTheSchoolsAccounts(t *testing.T) {
	text := func(t *testing.T, resp *http.Response) string {
		t.Helper()
		return strings.Join(strings.Fields(doc(t, resp).Find("main").Text()), " ")
	}
	a := newTestApp(t, withCAS(), calledPassUM)
	for _, c := range []struct {
		name, path, lang, want string
	}{
		{"privacy", paths.Privacy, "fr", "utilise PASS'UM pour vous permettre"},
		{"privacy, English", paths.Privacy, "en", "uses PASS'UM to let you"},
		{"an unknown CAS service", casLoginURL("https://attacker.example/"), "fr", "PASS'UM ne vous y connecte pas"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := text(t, a.get(c.path, "Accept-Language", c.lang)); !strings.Contains(got, c.want) || strings.Contains(got, "Sésame") {
				t.Errorf("the page says %q, want « %s » and never « Sésame »", got, c.want)
			}
		})
	}

	s := newOIDCServer(t, calledPassUM)
	portal := s.portal()
	t.Run("an application's bad request", func(t *testing.T) {
		other := portal
		other.cfg.ClientID = "nope"
		resp, _ := s.browser(t).authorize(other, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		if got := text(t, resp); !strings.Contains(got, "que PASS'UM ne peut pas satisfaire") {
			t.Errorf("the page says %q", got)
		}
	})
	t.Run("signing out of every application", func(t *testing.T) {
		p := s.browser(t)
		p.code(portal, "P003")
		q := url.Values{"client_id": {"portail"}, "post_logout_redirect_uri": {portalBye}}
		resp, _ := p.follow(s.base + paths.OIDCEndSession + "?" + q.Encode())
		d := doc(t, resp)
		if h1 := d.Find("h1").Text(); h1 != "Vous déconnecter de PASS'UM ?" {
			t.Errorf("the question is %q", h1)
		}
		if got := d.Find(`[data-testid="oidc-end-session"]`).Text(); strings.Contains(got, "Sésame") {
			t.Errorf("the page speaks of Sésame: %q", strings.Join(strings.Fields(got), " "))
		}
	})
}
