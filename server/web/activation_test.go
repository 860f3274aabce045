package web_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

const provisional = "Prov-7731"

// seedStaff adds pending staff accounts with the provisional password of
// their HR letter.
func (a *testApp) seedStaff() {
	a.t.Helper()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	for _, acc := range []account.Account{
		{ID: "s200", Identifier: "S200", FirstName: "Marie-Hélène", LastName: "Dupont", Population: "staff", Status: account.StatusPending},
		{ID: "c300", Identifier: "C300", FirstName: "Éric", LastName: "Noël", Population: "contract-staff", Status: account.StatusPending},
	} {
		acc.PasswordHash, _ = h.Hash(provisional)
		acc.PasswordSetBy = account.SetByImport
		if err := a.st.Accounts().SaveAccount(context.Background(), acc, ""); err != nil {
			a.t.Fatal(err)
		}
	}
}

// act posts a wizard form and returns the page.
func (a *testApp) act(path string, form url.Values) (*http.Response, *goquery.Document) {
	a.t.Helper()
	form.Set(csrfField, a.csrfToken(paths.Activation))
	resp := a.follow(a.postForm(path, form))
	return resp, doc(a.t, resp)
}

func stepNum(d *goquery.Document) string {
	s, _ := d.Find(`[data-testid="activation"]`).Attr("data-step")
	return s
}

// confirmLink opens the mailed link (which changes nothing) and submits
// its button, from another browser, as a person reading mail on a phone.
func (a *testApp) confirmLink(t *testing.T, to string, n int) {
	t.Helper()
	m := a.smtp.Wait(to, n, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	phone := a.browser()
	d := doc(t, phone.get(link.RequestURI()))
	if d.Find(`form[action="/activation/confirm"] button`).Length() != 1 {
		t.Fatalf("link page: %s", d.Find("main").Text())
	}
	resp := phone.follow(phone.postForm(paths.ActivationConfirm, url.Values{csrfField: {phone.csrfToken(link.RequestURI())},
		"flow": {link.Query().Get("flow")}, "token": {link.Query().Get("token")}}))
	if txt := doc(t, resp).Find("main").Text(); !strings.Contains(txt, "est confirmée") {
		t.Fatalf("confirm: %s", txt)
	}
}

func TestActivationPermanentStaff(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.seedStaff()
	ctx := context.Background()
	// Another Marie-Hélène Dupont already has the address.
	if ok, _ := a.st.Activations().ClaimMailbox(ctx, "marie-helene.dupont@lycee-jean-moulin.example", "someone-else"); !ok {
		t.Fatal("could not reserve the colliding address")
	}

	d := doc(t, a.get(paths.Activation))
	if stepNum(d) != "start" || d.Find("ol.steps li").Length() != 7 {
		t.Fatalf("start page: step %s, %d steps", stepNum(d), d.Find("ol.steps li").Length())
	}
	_, d = a.act(paths.ActivationStart, url.Values{"identifier": {"s200"}, "password": {provisional}})
	if stepNum(d) != "rescue" {
		t.Fatalf("after step 1: step %s: %s", stepNum(d), d.Find("main").Text())
	}
	_, d = a.act(paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}})
	if !strings.Contains(d.Find("main").Text(), "valable aujourd'hui jusqu'à 23 h 59") {
		t.Errorf("rescue sent page: %s", d.Find("main").Text())
	}
	// Opening the link changes nothing: the wizard still waits.
	m := a.smtp.Wait("mh.dupont@example.org", 1, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	a.browser().get(link.RequestURI())
	if d := doc(t, a.get(paths.Activation)); stepNum(d) != "rescue" {
		t.Fatalf("opening the link moved the wizard to step %s", stepNum(d))
	}
	a.confirmLink(t, "mh.dupont@example.org", 1)

	d = doc(t, a.get(paths.Activation))
	if stepNum(d) != "charter" || d.Find("section.charter p").Length() < 3 {
		t.Fatalf("charter step: %s %s", stepNum(d), d.Find("main").Text())
	}
	resp, _ := a.act(paths.ActivationCharter, url.Values{})
	if resp.StatusCode != 422 {
		t.Errorf("charter not ticked: status %d", resp.StatusCode)
	}
	_, d = a.act(paths.ActivationCharter, url.Values{"accept": {"yes"}})
	_, d = a.act(paths.ActivationDirectory, url.Values{"choice": {"yes"}})
	if stepNum(d) != "redirect" || !strings.Contains(d.Find("main").Text(), "marie-helene.dupont@lycee-jean-moulin.example") {
		t.Fatalf("redirect step: %s %s", stepNum(d), d.Find("main").Text())
	}
	if v, ok := d.Find("#act-keep").Attr("checked"); !ok {
		t.Errorf("« conserver une copie » is not checked by default (%q)", v)
	}
	// An optional redirection proposes the rescue address too, unticked
	// (issue 16, item 10).
	if v, _ := d.Find("#act-redirect-to").Attr("value"); v != "mh.dupont@example.org" {
		t.Errorf("optional redirection proposes %q; want the rescue address", v)
	}
	if _, ticked := d.Find("#act-redirect").Attr("checked"); ticked {
		t.Error("optional redirection ticked by default")
	}
	_, d = a.act(paths.ActivationRedirect, url.Values{"keep_copy": {"yes"}, "to": {"mh.dupont@example.org"}}) // optional: no redirection
	if stepNum(d) != "password" {
		t.Fatalf("password step: %s", stepNum(d))
	}
	// « Notez bien votre mot de passe » and the population's rules page.
	if note := d.Find(`[data-testid="write-it-down"]`).Text(); note != "Notez bien votre mot de passe : il ne pourra pas vous être envoyé." {
		t.Errorf("password step's note = %q", note)
	}
	if href, _ := d.Find(`[data-testid="policy-link"]`).Attr("href"); href != paths.PasswordPolicy+"/staff" {
		t.Errorf("password step links the policy at %q", href)
	}
	resp, d = a.act(paths.ActivationPassword, url.Values{"password": {"court"}, "confirm": {"court"}})
	if resp.StatusCode != 422 || d.Find("#act-password-error").Length() != 1 {
		t.Errorf("weak password accepted: %d", resp.StatusCode)
	}
	_, d = a.act(paths.ActivationPassword, url.Values{"password": {"Une phrase de passe solide"}, "confirm": {"Une phrase de passe solide"}})
	if stepNum(d) != "done" {
		t.Fatalf("summary: %s %s", stepNum(d), d.Find("main").Text())
	}
	sum := d.Find("dl.summary").Text()
	for _, want := range []string{"S200", "mh.dupont@example.org", "marie-helene.dupont2@lycee-jean-moulin.example", "version 2026-09"} {
		if !strings.Contains(sum, want) {
			t.Errorf("summary lacks %q: %s", want, sum)
		}
	}
	acc := account1(t, a, "s200")
	if acc.Status != account.StatusActive || acc.Email != "mh.dupont@example.org" || !acc.Directory || acc.CharterVersion != "2026-09" || acc.CharterAt.IsZero() || acc.RedirectTo != "" {
		t.Errorf("account after activation: %+v", acc)
	}
	// The provisional password stops working; the new one signs in.
	if msg := loginError(t, a.browser().signIn("S200", provisional)); !strings.Contains(msg, "incorrect") {
		t.Errorf("provisional password after activation: %q", msg)
	}
	if resp := a.browser().signIn("S200", "Une phrase de passe solide"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("new password: status %d", resp.StatusCode)
	}
	// A second activation is refused with the words of a wrong pair, which
	// send people to sign-in: saying « déjà activé » would confirm the
	// password to whoever typed it (security issue, point 8).
	b := a.browser()
	_, d = b.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {"Une phrase de passe solide"}})
	_, wrong := b.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {"Pas le bon mot de passe"}})
	if stepNum(d) != "start" || !strings.Contains(d.Text(), "ne correspondent pas") || !strings.Contains(d.Text(), "déjà activé, connectez-vous") {
		t.Errorf("second activation: step %s: %s", stepNum(d), d.Find(".alert").Text())
	}
	if d.Find(".alert").Text() != wrong.Find(".alert").Text() {
		t.Errorf("an activated account's right password is told apart from a wrong one: %q vs %q", d.Find(".alert").Text(), wrong.Find(".alert").Text())
	}
}

func TestActivationContractStaffMandatoryRedirect(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	a.act(paths.ActivationStart, url.Values{"identifier": {"C300"}, "password": {provisional}})
	a.act(paths.ActivationRescue, url.Values{"email": {"eric.noel@example.org"}})
	a.confirmLink(t, "eric.noel@example.org", 1)
	a.act(paths.ActivationCharter, url.Values{"accept": {"yes"}})
	_, d := a.act(paths.ActivationDirectory, url.Values{"choice": {"no"}})
	if stepNum(d) != "redirect" || d.Find("#act-redirect").Length() != 0 || !strings.Contains(d.Text(), "obligatoire") {
		t.Fatalf("mandatory redirect step: %s", d.Find("main").Text())
	}
	if v, _ := d.Find("#act-redirect-to").Attr("value"); v != "eric.noel@example.org" {
		t.Errorf("rescue address not proposed: %q", v)
	}
	// Refusing the redirection is not possible: an empty address is refused.
	resp, d := a.act(paths.ActivationRedirect, url.Values{"to": {""}})
	if resp.StatusCode != 422 || d.Find("#act-redirect-error").Length() != 1 {
		t.Errorf("empty mandatory redirect: %d", resp.StatusCode)
	}
	// Another address than the rescue one must be confirmed by its own link.
	_, d = a.act(paths.ActivationRedirect, url.Values{"to": {"eric.perso@example.net"}, "keep_copy": {"yes"}})
	if d.Find(`[data-testid="redirect-sent"]`).Length() != 1 {
		t.Fatalf("redirect link not sent: %s", d.Find("main").Text())
	}
	resp, d = a.act(paths.ActivationPassword, url.Values{"password": {"Une phrase de passe solide"}, "confirm": {"Une phrase de passe solide"}})
	if resp.StatusCode != http.StatusConflict || stepNum(d) != "redirect" {
		t.Errorf("password before the redirect is confirmed: %d step %s", resp.StatusCode, stepNum(d))
	}
	a.confirmLink(t, "eric.perso@example.net", 1)
	_, d = a.act(paths.ActivationPassword, url.Values{"password": {"Une phrase de passe solide"}, "confirm": {"Une phrase de passe solide"}})
	if stepNum(d) != "done" {
		t.Fatalf("summary: %s", d.Find("main").Text())
	}
	acc := account1(t, a, "c300")
	if acc.RedirectTo != "eric.perso@example.net" || !acc.RedirectCopy || acc.Mailbox != "eric.noel@lycee-jean-moulin.example" || acc.Directory {
		t.Errorf("account: %+v", acc)
	}
}

func TestActivationSkippingStepsChangesNothing(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	before := account1(t, a, "s200")
	for _, path := range []string{paths.ActivationCharter, paths.ActivationDirectory, paths.ActivationRedirect, paths.ActivationPassword} {
		t.Run(path, func(t *testing.T) {
			resp, d := a.act(path, url.Values{"accept": {"yes"}, "choice": {"yes"}, "to": {"x@example.org"}, "password": {"Une phrase de passe solide"}, "confirm": {"Une phrase de passe solide"}})
			if resp.StatusCode != http.StatusConflict || stepNum(d) != "rescue" {
				t.Errorf("status %d, step %s", resp.StatusCode, stepNum(d))
			}
		})
	}
	if after := account1(t, a, "s200"); !reflect.DeepEqual(after, before) {
		t.Errorf("skipping changed the account")
	}
	// Without the flow's cookie, no step is reachable at all.
	_, d := a.browser().act(paths.ActivationPassword, url.Values{"password": {"Une phrase de passe solide"}, "confirm": {"Une phrase de passe solide"}})
	if stepNum(d) != "start" {
		t.Errorf("another browser reached step %s", stepNum(d))
	}
}

func TestActivationLinkExpiresAt2359(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	// Move the clock to 23:00 in Paris.
	loc := paris(t)
	now := time.Now().In(loc)
	target := time.Date(now.Year(), now.Month(), now.Day(), 23, 0, 0, 0, loc)
	if target.Before(now) {
		target = target.AddDate(0, 0, 1)
	}
	a.advance(target.Sub(now))
	a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	a.act(paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}})
	m := a.smtp.Wait("mh.dupont@example.org", 1, 5*time.Second)
	if !strings.Contains(m.Text, "jusqu'à 23 h 59") {
		t.Errorf("mail does not give the deadline:\n%s", m.Text)
	}
	link, _ := url.Parse(m.Links()[0])
	a.advance(61 * time.Minute) // 00:01 the next day
	d := doc(t, a.browser().get(link.RequestURI()))
	if !strings.Contains(d.Text(), "n'est plus valable") {
		t.Errorf("link after midnight: %s", d.Find("main").Text())
	}
	// The person starts again from step 1.
	if d := doc(t, a.get(paths.Activation)); stepNum(d) != "start" {
		t.Errorf("after midnight the wizard is at step %s", stepNum(d))
	}
	_, d = a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	if stepNum(d) != "rescue" {
		t.Errorf("starting again: step %s", stepNum(d))
	}
}

func TestActivationWrongProvisionalPassword(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	msg := func(d *goquery.Document) string { return strings.TrimSpace(d.Find("#act-form-error").Text()) }
	_, d := a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {"wrong"}})
	wrongPassword := msg(d)
	_, d = a.act(paths.ActivationStart, url.Values{"identifier": {"NOBODY"}, "password": {provisional}})
	if wrongPassword == "" || msg(d) != wrongPassword {
		t.Errorf("a wrong pair tells which part was wrong: %q vs %q", wrongPassword, msg(d))
	}
	for range 5 {
		a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {"wrong"}})
	}
	resp, d := a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(msg(d), "réessayez dans") {
		t.Errorf("after 6 wrong pairs: %d %q", resp.StatusCode, msg(d))
	}
	a.advance(16 * time.Minute)
	if _, d := a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}}); stepNum(d) != "rescue" {
		t.Errorf("after the wait: step %s", stepNum(d))
	}
}

func TestActivationResumesOnAnotherDevice(t *testing.T) {
	a := newTestApp(t)
	a.seedStaff()
	a.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	a.act(paths.ActivationRescue, url.Values{"email": {"mh.dupont@example.org"}})
	a.confirmLink(t, "mh.dupont@example.org", 1)
	a.act(paths.ActivationCharter, url.Values{"accept": {"yes"}})
	// The next morning... no: the same day, on a phone.
	phone := a.browser()
	_, d := phone.act(paths.ActivationStart, url.Values{"identifier": {"S200"}, "password": {provisional}})
	if stepNum(d) != "directory" {
		t.Errorf("resumed at step %s, want 4", stepNum(d))
	}
	// The first browser no longer holds the flow.
	if d := doc(t, a.get(paths.Activation)); stepNum(d) != "start" {
		t.Errorf("the old browser still holds the flow at step %s", stepNum(d))
	}
}

func TestNewCharterVersionMustBeAccepted(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	acc := account1(t, a, "p003")
	acc.CharterVersion = "2025-09" // accepted last year
	if err := a.st.Accounts().SaveAccount(context.Background(), acc, acc.Email); err != nil {
		t.Fatal(err)
	}
	a.signIn("P003", annePassword)
	resp := a.get(paths.Account)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != paths.AccountCharter {
		t.Fatalf("account page with an old charter: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	tok := a.csrfToken(paths.AccountCharter)
	if resp := a.postForm(paths.AccountCharter, url.Values{csrfField: {tok}}); resp.StatusCode != 422 {
		t.Errorf("not ticked: %d", resp.StatusCode)
	}
	a.postForm(paths.AccountCharter, url.Values{csrfField: {tok}, "accept": {"yes"}})
	if got := account1(t, a, "p003"); got.CharterVersion != "2026-09" || !got.CharterAt.After(acc.CharterAt) {
		t.Errorf("charter = %q at %v", got.CharterVersion, got.CharterAt)
	}
	if resp := a.get(paths.Account); resp.StatusCode != 200 {
		t.Errorf("after accepting: %d", resp.StatusCode)
	}
}
