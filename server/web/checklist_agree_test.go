package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/policy"
)

// liveCheck posts the new-password form's fields to the live checklist, as
// HTMX does while the person types, and returns each rule's verdict.
func (a *testApp) liveCheck(t *testing.T, fields url.Values) []bool {
	t.Helper()
	fields.Set(csrfField, a.csrfToken("/"))
	d := doc(t, a.postForm(paths.PasswordCheck, fields, "HX-Request", "true"))
	var met []bool
	d.Find("#pw-rules li").Each(func(_ int, li *goquery.Selection) {
		met = append(met, li.AttrOr("data-met", "") == "true")
	})
	if len(met) == 0 {
		t.Fatalf("no checklist in the answer")
	}
	return met
}

// TestLiveChecklistAgreesWithTheServer: the live checklist and the step
// that saves a password run the same rules on the same data, rule by rule
// (issue: a password containing the person's name showed « différent du
// nom » met while typing, then the server refused it). The verdicts are
// compared with the policy evaluated as the server does, with the account's
// identifier and names, for recovery step 3, the personal page and a
// guardian's page for a child.
func TestLiveChecklistAgreesWithTheServer(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedFamily()
	sc := testSchool(t)

	// Recovery step 3 for P003 (Léo Martin, parents).
	rec := a.browser()
	rec.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
	rec.step(paths.RecoveryCode, url.Values{"code": {code}})
	// The personal page of P001 (Anne Durand), guardian of E600 (Lina).
	me := a.browser()
	me.signIn("P001", annePassword)

	forms := []struct {
		name       string
		b          *testApp
		identifier string
		population string
		ctx        policy.Context
	}{
		{"recovery step 3", rec, "P003", "parents", policy.Context{Identifier: "P003", FirstName: "Léo", LastName: "Martin"}},
		{"personal page", me, "P001", "parents", policy.Context{Identifier: "P001", FirstName: "Anne", LastName: "Durand"}},
		{"guardian's page for a child", me, "E600", "students", policy.Context{Identifier: "E600", FirstName: "Lina", LastName: "Durand"}},
		// A stranger's browser learns no names: only the identifier counts.
		{"another browser", a.browser(), "P003", "parents", policy.Context{Identifier: "P003"}},
	}
	passwords := []string{
		"martin2026!", "Leo-Martin-99", "léo martin 42", "Durand2026", "anne.durand 7", "lina2026",
		"Trois chats sur le toit 42", "P003-est-mon-id", "court", "Chat42Lune",
	}
	for _, f := range forms {
		for _, pw := range passwords {
			t.Run(f.name+"/"+pw, func(t *testing.T) {
				got := f.b.liveCheck(t, url.Values{"password": {pw}, "confirm": {""}, "identifier": {f.identifier}, "population": {f.population}})
				want := sc.PolicyOf(f.population).Evaluate(pw, f.ctx).Rules
				if len(got) != len(want) {
					t.Fatalf("%d rules shown, the server has %d", len(got), len(want))
				}
				for i, r := range want {
					if got[i] != r.Met {
						t.Errorf("rule %s: live check says met=%v, the server says %v", r.Key, got[i], r.Met)
					}
				}
			})
		}
	}

	// And the server does refuse what the checklist shows unmet: a
	// password holding the person's name, on the personal page.
	resp := me.postForm(paths.AccountPassword, url.Values{csrfField: {me.csrfToken(paths.Account)}, "current": {annePassword},
		"password": {"Anne Durand 2026!"}, "confirm": {"Anne Durand 2026!"}})
	if d := doc(t, resp); !strings.Contains(d.Find("#pf-password-error").Text(), "règles") {
		t.Errorf("a password with the person's name was not refused: %q", d.Find("#pf-password-error").Text())
	}
}

// TestLiveChecklistAgreesAtActivation extends the agreement to
// activation's password form and to the staff populations: a permanent
// staff member (Marie-Hélène Dupont, default policy) and a contract staff
// member (Éric Noël, default policy) at activation, and an elected
// official (14 characters) on the personal page. Where the live checklist
// shows a rule unmet, the step that saves the password refuses it, and the
// password it shows all met is accepted.
func TestLiveChecklistAgreesAtActivation(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	official := account.Account{ID: "o400", Identifier: "O400", Email: "claire.fabre@example.fr", FirstName: "Claire", LastName: "Fabre",
		Population: "officials", Status: account.StatusActive}
	official.PasswordHash, _ = h.Hash(annePassword)
	official.PasswordSetBy = account.SetByImport
	if err := a.st.Accounts().SaveAccount(context.Background(), official, ""); err != nil {
		t.Fatal(err)
	}
	sc := testSchool(t)

	// Each pending account walks the wizard up to its password step.
	toPassword := func(id, rescue string, mandatory bool) *testApp {
		t.Helper()
		b := a.browser()
		b.act(paths.ActivationStart, url.Values{"identifier": {id}, "password": {provisional}})
		b.act(paths.ActivationRescue, url.Values{"email": {rescue}})
		b.confirmLink(t, rescue, 1)
		b.act(paths.ActivationCharter, url.Values{"accept": {"yes"}})
		b.act(paths.ActivationDirectory, url.Values{"choice": {"no"}})
		redirect := url.Values{"keep_copy": {"yes"}}
		if mandatory {
			redirect.Set("to", rescue)
		}
		if _, d := b.act(paths.ActivationRedirect, redirect); stepNum(d) != "password" {
			t.Fatalf("%s: step %s instead of password: %s", id, stepNum(d), d.Find("main").Text())
		}
		return b
	}
	staff := toPassword("S200", "mh.dupont@example.org", false)
	contract := toPassword("C300", "eric.noel@example.org", true)
	me := a.browser()
	me.signIn("O400", annePassword)

	forms := []struct {
		name       string
		b          *testApp
		identifier string
		population string
		ctx        policy.Context
	}{
		{"activation, permanent staff", staff, "S200", "staff", policy.Context{Identifier: "S200", FirstName: "Marie-Hélène", LastName: "Dupont"}},
		{"activation, contract staff", contract, "C300", "contract-staff", policy.Context{Identifier: "C300", FirstName: "Éric", LastName: "Noël"}},
		{"personal page, official", me, "O400", "officials", policy.Context{Identifier: "O400", FirstName: "Claire", LastName: "Fabre"}},
	}
	passwords := []string{
		"helene dupont 99", "Marie-Hélène Dupont!", "dupont-et-compagnie", "eric noel 2026 ok", "Noël au balcon 1999",
		"claire fabre mandat 2026", "Fabre Conseil Régional", "S200-mon-identifiant", "c300 contrat 2026",
		"Trois chats sur le toit 42", "azertyuiop123", "court",
	}
	for _, f := range forms {
		for _, pw := range passwords {
			t.Run(f.name+"/"+pw, func(t *testing.T) {
				got := f.b.liveCheck(t, url.Values{"password": {pw}, "confirm": {""}, "identifier": {f.identifier}, "population": {f.population}})
				want := sc.PolicyOf(f.population).Evaluate(pw, f.ctx).Rules
				if len(got) != len(want) {
					t.Fatalf("%d rules shown, the server has %d", len(got), len(want))
				}
				for i, r := range want {
					if got[i] != r.Met {
						t.Errorf("rule %s: live check says met=%v, the server says %v", r.Key, got[i], r.Met)
					}
				}
			})
		}
	}

	// What the checklist shows unmet, activation's step refuses; what it
	// shows met, it accepts.
	for _, f := range forms[:2] {
		for _, pw := range []string{"helene dupont 99", "eric noel 2026 ok", "S200-mon-identifiant", "c300 contrat 2026", "Trois chats sur le toit 42"} {
			met := true
			for _, m := range f.b.liveCheck(t, url.Values{"password": {pw}, "identifier": {f.identifier}, "population": {f.population}}) {
				met = met && m
			}
			resp, d := f.b.act(paths.ActivationPassword, url.Values{"password": {pw}, "confirm": {pw}})
			accepted := stepNum(d) == "done"
			if accepted != met {
				t.Errorf("%s, %q: the checklist shows all met=%v, the server accepted=%v (%d: %s)", f.name, pw, met, accepted, resp.StatusCode, d.Find("#act-password-error").Text())
			}
			if accepted {
				break
			}
		}
	}
}
