package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/paths"
)

// TestPasswordPolicy: each population has a page stating its rules and
// why (Pronote's « Consulter notre politique de sécurité des mots de
// passe »), and every new-password form links its own population's.
func TestPasswordPolicy(t *testing.T) {
	a := newTestApp(t)
	tests := []struct {
		name, path, lang string
		status           int
		h1               string
		sections         int
		rules            []string
		weak             bool
	}{
		{"parents", paths.PasswordPolicy + "/parents", "fr", 200, "Politique de sécurité des mots de passe", 1,
			[]string{"contenir au moins un chiffre", "contenir au moins une lettre", "être différent de votre identifiant"}, true},
		{"staff: the default", paths.PasswordPolicy + "/staff", "fr", 200, "Politique de sécurité des mots de passe", 1,
			[]string{"12", "ne pas être un mot de passe courant"}, false},
		{"students, English", paths.PasswordPolicy + "/students", "en", 200, "Password security policy", 1,
			[]string{"no accented letter", "only letters and digits"}, true},
		{"every population", paths.PasswordPolicy, "fr", 200, "Politique de sécurité des mots de passe", 5, nil, true},
		{"unknown population", paths.PasswordPolicy + "/nobody", "fr", 404, "", 0, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := a.get(tt.path, "Accept-Language", tt.lang)
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			if tt.status != 200 {
				return
			}
			d := doc(t, resp)
			if h1 := d.Find("h1").Text(); h1 != tt.h1 {
				t.Errorf("h1 = %q", h1)
			}
			if n := d.Find(`[data-testid="policy-rules"]`).Length(); n != tt.sections {
				t.Errorf("%d lists of rules, want %d", n, tt.sections)
			}
			rules := d.Find(`[data-testid="policy-rules"]`).Text()
			for _, r := range tt.rules {
				if !strings.Contains(rules, r) {
					t.Errorf("rules lack %q: %q", r, rules)
				}
			}
			if weak := d.Find(".policy-section .hint").Length() > 0; weak != tt.weak {
				t.Errorf("weak-policy note shown: %v, want %v", weak, tt.weak)
			}
		})
	}

	// The new-password forms link their population's page.
	a.seed()
	me := a.browser()
	me.signIn("P001", annePassword)
	rec := a.browser()
	rec.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
	_, _ = rec.step(paths.RecoveryCode, url.Values{"code": {code}})
	for _, f := range []struct {
		name, path, want string
		b                *testApp
	}{
		{"personal page", paths.Account, paths.PasswordPolicy + "/parents", me},
		{"recovery step 3", paths.Recovery, paths.PasswordPolicy + "/parents", rec},
	} {
		href, _ := doc(t, f.b.get(f.path)).Find(`[data-testid="policy-link"]`).Attr("href")
		if href != f.want {
			t.Errorf("%s links the policy at %q, want %q", f.name, href, f.want)
		}
	}
}
