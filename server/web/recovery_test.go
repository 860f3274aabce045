package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/session"
)

const (
	annePassword = "Ancien-mot-de-passe-1"
	anneMail     = "famille.durand@example.fr"
)

// seed loads a small school: two parents sharing one address, a parent of
// their own, a pending staff member, and a student.
func (a *testApp) seed() {
	a.t.Helper()
	h := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 1)
	old := time.Now().Add(-24 * time.Hour)
	for _, acc := range []account.Account{
		{ID: "p001", Identifier: "P001", Email: anneMail, FirstName: "Anne", LastName: "Durand", Population: "parents", Status: account.StatusActive},
		{ID: "p002", Identifier: "P002", Email: anneMail, FirstName: "Paul", LastName: "Durand", Population: "parents", Status: account.StatusActive},
		{ID: "p003", Identifier: "P003", Email: "leo.martin@example.fr", FirstName: "Léo", LastName: "Martin", Population: "parents", Status: account.StatusActive},
		{ID: "s100", Identifier: "S100", Email: "eric.noel@example.fr", FirstName: "Éric", LastName: "Noël", Population: "staff", Status: account.StatusPending},
		{ID: "e500", Identifier: "E500", Email: "zoe@example.fr", FirstName: "Zoé", LastName: "Roy", Population: "students", Status: account.StatusActive},
	} {
		acc.PasswordHash, _ = h.Hash(annePassword)
		acc.PasswordSetBy, acc.CreatedAt, acc.UpdatedAt = account.SetByImport, old, old
		if err := a.st.Accounts().SaveAccount(context.Background(), acc, ""); err != nil {
			a.t.Fatal(err)
		}
	}
}

// step posts a recovery form with the page's CSRF token, as HTMX does.
func (a *testApp) step(path string, form url.Values) (*http.Response, string) {
	a.t.Helper()
	form.Set(csrfField, a.csrfToken("/"))
	// Without HX-Request, as a browser without JavaScript: the status then
	// tells refused forms (422, 429) from accepted ones.
	resp := a.follow(a.postForm(path, form))
	d := doc(a.t, resp)
	h, _ := goquery.OuterHtml(d.Find("#recovery-step"))
	if h == "" {
		a.t.Fatalf("%s: no step in the answer (status %d)", path, resp.StatusCode)
	}
	return resp, h
}

func (a *testApp) request(population, input string) (*http.Response, string) {
	return a.step(paths.RecoveryRequest, url.Values{"kind": {"password"}, "population": {population}, "input": {input}, "consent": {"yes"}})
}

func passwordOK(t *testing.T, a *testApp, id, password string) bool {
	t.Helper()
	acc, err := a.st.Accounts().GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	ok, _, _ := account.NewHasher(account.DefaultParams(), 1).Verify(acc.PasswordHash, password)
	return ok
}

func TestRecoveryFullPath(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	ctx := context.Background()
	// Anne is signed in on another device; the reset must end that session.
	if err := a.st.Sessions().CreateSession(ctx, session.Session{ID: "s1", AccountID: "p003", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	// Step 1: the chooser first (several populations), then the form.
	d := doc(t, a.get(paths.Recovery))
	if d.Find(`[data-testid="chooser"] a.choice`).Length() != 6 || !strings.Contains(d.Text(), "J'ai besoin de support") {
		t.Fatalf("chooser = %q", d.Find(`[data-testid="chooser"]`).Text())
	}
	d = doc(t, a.get("/recovery?population=parents"))
	if ac, _ := d.Find("#rec-input").Attr("autocomplete"); ac != "username" {
		t.Errorf("step 1 input autocomplete = %q", ac)
	}
	if d.Find(`#rec-consent[required]`).Length() != 1 {
		t.Error("no required consent checkbox")
	}

	resp, html := a.request("parents", "P003")
	if resp.StatusCode != 200 || !strings.Contains(html, "Si un compte correspond, un code vous a été envoyé.") || !strings.Contains(html, `data-step="code"`) {
		t.Fatalf("step 1 answer: %d %s", resp.StatusCode, html)
	}
	if rp := resp.Header.Get("Referrer-Policy"); rp != "no-referrer" {
		t.Errorf("Referrer-Policy = %q", rp)
	}

	// Step 2: the code from the real mail.
	m := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
	code := m.Code()
	if code == "" || !strings.Contains(m.Text, "P003") || !strings.Contains(m.Text, "15 minutes") {
		t.Fatalf("code mail:\n%s", m.Text)
	}
	if m.Header.Get("Auto-Submitted") != "auto-generated" || m.Header.Get("Message-Id") == "" {
		t.Errorf("headers: %v", m.Header)
	}
	// Typed as people type it: lower case, with a space.
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {strings.ToLower(code[:3]) + " " + code[3:]}})
	if !strings.Contains(html, `data-step="password"`) || !strings.Contains(html, `value="P003"`) {
		t.Fatalf("after the right code: %s", html)
	}
	if !strings.Contains(html, `autocomplete="new-password"`) || !strings.Contains(html, `data-testid="checklist"`) {
		t.Error("step 3 lacks new-password fields or the checklist")
	}

	// Step 3: bad input changes nothing.
	for _, bad := range []url.Values{
		{"password": {"court"}, "confirm": {"court"}},
		{"password": {"un mot de passe très long"}, "confirm": {"un autre mot de passe long"}},
	} {
		resp, html = a.step(paths.RecoveryPassword, bad)
		if resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(html, `class="error"`) {
			t.Errorf("bad password accepted: %d", resp.StatusCode)
		}
	}
	if !passwordOK(t, a, "p003", annePassword) {
		t.Fatal("a refused password changed the account")
	}
	resp, html = a.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
	if resp.StatusCode != 200 || !strings.Contains(html, "Votre mot de passe a été modifié") || !strings.Contains(html, "P003") {
		t.Fatalf("step 3 answer: %d %s", resp.StatusCode, html)
	}
	if !passwordOK(t, a, "p003", "Trois chats sur le toit 42") {
		t.Error("password not changed")
	}
	// Not signed in, every session revoked, a notice mailed, the flow gone.
	if _, ok := a.jar["sesame_session"]; ok {
		t.Error("the person was signed in automatically")
	}
	if n, _ := a.st.DB().Collection("sessions").CountDocuments(ctx, bson.D{{Key: "accountId", Value: "p003"}}); n != 0 {
		t.Errorf("%d sessions survive the reset", n)
	}
	notice := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second)
	if !strings.Contains(notice.Subject, "Votre mot de passe a été modifié") {
		t.Errorf("second mail = %q", notice.Subject)
	}
	// GDPR: what stays of the processed request until it expires names
	// nobody; it only lets another device say « déjà modifié ».
	if n, _ := a.st.DB().Collection("recovery_flows").CountDocuments(ctx, bson.D{{Key: "state", Value: bson.D{{Key: "$ne", Value: "done"}}}}); n != 0 {
		t.Errorf("%d unfinished flows left after the reset", n)
	}
	if n, _ := a.st.DB().Collection("recovery_flows").CountDocuments(ctx, bson.D{{Key: "accounts", Value: bson.D{{Key: "$ne", Value: nil}}}}); n != 0 {
		t.Errorf("%d flows still name accounts after the reset", n)
	}
	if n, _ := a.st.DB().Collection("recovery_flows").CountDocuments(ctx, bson.D{{Key: "ip", Value: bson.D{{Key: "$exists", Value: true}}}}); n != 0 {
		t.Errorf("%d flows still keep an address after the reset", n)
	}
	// The code is single-use: the link no longer leads anywhere.
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {code}})
	if strings.Contains(html, `data-step="password"`) {
		t.Error("a used code worked again")
	}
}

// normalise removes what differs between two answers by design: tokens,
// and what the person typed, which step 2 shows back to them.
func normalise(html string) string {
	html = regexp.MustCompile(`name="input" value="[^"]*"`).ReplaceAllString(html, `name="input"`)
	html = regexp.MustCompile(`<strong data-testid="sent-for">[^<]*</strong>`).ReplaceAllString(html, `<strong data-testid="sent-for"></strong>`)
	html = regexp.MustCompile(`value="[0-9a-f]{32}"`).ReplaceAllString(html, `value="FLOW"`)
	html = regexp.MustCompile(`name="_csrf" value="[^"]*"`).ReplaceAllString(html, `name="_csrf"`)
	return html
}

func TestRecoveryRequestUnknownIdentifierSameAnswer(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	respKnown, known := a.request("parents", "P003")
	b := a.browser()
	respUnknown, unknown := b.request("parents", "NOBODY42")
	c := a.browser()
	_, wrongPopulation := c.request("students", "P003") // a parent who clicked « Je suis élève »
	if respKnown.StatusCode != respUnknown.StatusCode {
		t.Errorf("status %d vs %d", respKnown.StatusCode, respUnknown.StatusCode)
	}
	if normalise(known) != normalise(unknown) {
		t.Errorf("answers differ:\n%s\n---\n%s", normalise(known), normalise(unknown))
	}
	if !strings.Contains(wrongPopulation, "Si un compte correspond") {
		t.Error("another population's account answered differently")
	}
	// The population picks the words, never which accounts are found
	// (issue 16): the parent asking as a student gets a code too.
	a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second)
	time.Sleep(300 * time.Millisecond)
	if n := len(a.smtp.All()); n != 2 {
		t.Errorf("%d mails sent, want 2 (none for the unknown identifier)", n)
	}
	// The unknown flow behaves like a real one at step 2.
	_, html := b.step(paths.RecoveryCode, url.Values{"code": {"T3A8XQ"}})
	if !strings.Contains(html, "Il vous reste 4 essais") {
		t.Errorf("unknown flow, wrong code: %s", html)
	}
}

func TestRecoveryCodeWrong(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
	wrong := "ZZZZZZ"
	if code == wrong {
		wrong = "YYYYYY"
	}
	// A malformed code costs no try.
	resp, html := a.step(paths.RecoveryCode, url.Values{"code": {"12"}})
	if resp.StatusCode != 422 || !strings.Contains(html, "6 lettres et chiffres") {
		t.Errorf("malformed: %d %s", resp.StatusCode, html)
	}
	for left := 4; left >= 1; left-- {
		_, html = a.step(paths.RecoveryCode, url.Values{"code": {wrong}})
		want := "Il vous reste " + itoa(left) + " essai"
		if !strings.Contains(html, want) {
			t.Fatalf("try %d: want %q in %s", 5-left, want, html)
		}
		if !strings.Contains(html, `aria-describedby="rec-code-hint rec-code-error"`) {
			t.Error("the error is not linked to the field")
		}
	}
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {wrong}})
	if !strings.Contains(html, "essais avec un code incorrect") {
		t.Fatalf("5th wrong code: %s", html)
	}
	// The flow is over: even the right code does nothing now.
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {code}})
	if strings.Contains(html, `data-step="password"`) {
		t.Error("the right code worked after 5 wrong ones")
	}
	if !passwordOK(t, a, "p003", annePassword) {
		t.Error("password changed")
	}
}

func itoa(n int) string { return string(rune('0' + n)) }

func TestRecoveryCodeExpired(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", "P003")
	code := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second).Code()
	a.advance(16 * time.Minute)
	_, html := a.step(paths.RecoveryCode, url.Values{"code": {code}})
	if !strings.Contains(html, "Ce code a expiré") {
		t.Fatalf("expired code: %s", html)
	}
	// A new code, after the cooldown, works; the old one stays dead.
	_, html = a.step(paths.RecoveryResend, url.Values{})
	if !strings.Contains(html, "Un nouveau code vous a été envoyé") {
		t.Fatalf("resend: %s", html)
	}
	code2 := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second).Code()
	if code2 == code {
		t.Fatal("the same code twice")
	}
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {code}})
	if strings.Contains(html, `data-step="password"`) {
		t.Fatal("the voided code worked")
	}
	_, html = a.step(paths.RecoveryCode, url.Values{"code": {code2}})
	if !strings.Contains(html, `data-step="password"`) {
		t.Fatalf("the new code failed: %s", html)
	}
}

func TestRecoveryCodeResendCooldown(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", "P003")
	a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
	_, html := a.step(paths.RecoveryResend, url.Values{})
	if !strings.Contains(html, "Patientez encore") {
		t.Fatalf("resend within 60 s: %s", html)
	}
	time.Sleep(200 * time.Millisecond)
	if n := a.smtp.Count("leo.martin@example.fr"); n != 1 {
		t.Errorf("%d mails: the cooldown let a second code through", n)
	}
}

func TestRecoverySharedEmail(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", strings.ToUpper(anneMail))
	m := a.smtp.Wait(anneMail, 1, 5*time.Second)
	if !strings.Contains(m.Text, "P001") || !strings.Contains(m.Text, "P002") {
		t.Fatalf("shared-address mail lacks an identifier:\n%s", m.Text)
	}
	_, html := a.step(paths.RecoveryCode, url.Values{"code": {m.Code()}})
	if !strings.Contains(html, "Plusieurs comptes utilisent cette adresse") {
		t.Fatalf("step 3 does not ask which account: %s", html)
	}
	resp, html := a.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
	if resp.StatusCode != 422 || !strings.Contains(html, "Choisissez le compte") {
		t.Errorf("no account chosen: %d", resp.StatusCode)
	}
	// The page shown again offers each account once.
	if n := strings.Count(html, `name="account"`); n != 2 {
		t.Errorf("the refused step offers %d accounts, want 2", n)
	}
	_, html = a.step(paths.RecoveryPassword, url.Values{"account": {"p002"}, "password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
	if !strings.Contains(html, "P002") {
		t.Fatalf("done: %s", html)
	}
	if !passwordOK(t, a, "p002", "Trois chats sur le toit 42") || !passwordOK(t, a, "p001", annePassword) {
		t.Error("the wrong account changed")
	}
}

func TestForgottenIdentifier(t *testing.T) {
	// Its page is titled for what was forgotten.
	if title := doc(t, newTestApp(t).get(paths.RecoveryIdentifier+"?population=parents")).Find("title").Text(); !strings.Contains(title, "Identifiant oublié") {
		t.Errorf("the forgotten-identifier page is titled %q", title)
	}
	a := newTestApp(t)
	a.seed()
	_, html := a.step(paths.RecoveryRequest, url.Values{"kind": {"identifier"}, "population": {"parents"}, "input": {"P001"}, "consent": {"yes"}})
	if !strings.Contains(html, "adresse e-mail valide") {
		t.Errorf("an identifier accepted where an address is asked: %s", html)
	}
	_, html = a.step(paths.RecoveryRequest, url.Values{"kind": {"identifier"}, "population": {"parents"}, "input": {anneMail}, "consent": {"yes"}})
	if !strings.Contains(html, "un e-mail listant vos identifiants vous a été envoyé") {
		t.Fatalf("answer: %s", html)
	}
	m := a.smtp.Wait(anneMail, 1, 5*time.Second)
	links := m.Links()
	if !strings.Contains(m.Text, "P001") || !strings.Contains(m.Text, "P002") || len(links) != 2 || !strings.Contains(links[1], "identifier=P002") {
		t.Fatalf("reminder:\n%s", m.Text)
	}
	if !strings.HasPrefix(links[0], "http://sesame.test/recovery?") {
		t.Errorf("link %q is not built from SESAME_BASE_URL", links[0])
	}
	// The link starts a reset with the identifier filled in.
	u, _ := url.Parse(links[1])
	d := doc(t, a.get(u.RequestURI()))
	if v, _ := d.Find("#rec-input").Attr("value"); v != "P002" {
		t.Errorf("prefilled identifier = %q", v)
	}
}

func TestRecoveryCodeLinkConsumesNothing(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", "P003")
	m := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	// A mail scanner fetches the link twice, from another "browser".
	scanner := a.browser()
	for range 2 {
		resp := scanner.get(link.RequestURI())
		if resp.StatusCode != 200 || resp.Header.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("link: %d %q", resp.StatusCode, resp.Header.Get("Referrer-Policy"))
		}
		d := doc(t, resp)
		if v, _ := d.Find("#rec-code").Attr("value"); v != m.Code() {
			t.Errorf("code not filled in: %q", v)
		}
		if d.Find("dialog#recovery-dialog[open]").Length() != 1 {
			t.Error("the link does not open the dialog")
		}
	}
	// The person opens the link on their phone and submits: it works, and
	// the phone now holds the flow.
	phone := a.browser()
	d := doc(t, phone.get(link.RequestURI()))
	flowID, _ := d.Find(`input[name="flow"]`).Attr("value")
	_, html := phone.step(paths.RecoveryCode, url.Values{"flow": {flowID}, "code": {m.Code()}})
	if !strings.Contains(html, `data-step="password"`) {
		t.Fatalf("code from the link on another device: %s", html)
	}
	_, html = phone.step(paths.RecoveryPassword, url.Values{"password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}})
	if !strings.Contains(html, "Votre mot de passe a été modifié") {
		t.Fatalf("finish on the phone: %s", html)
	}
}

func TestRecoveryResumesAfterReload(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.request("parents", "P003")
	d := doc(t, a.get("/"))
	if d.Find(`dialog#recovery-dialog[data-open="true"] #recovery-step[data-step="code"]`).Length() != 1 {
		t.Fatal("reloading the login page does not reopen the dialog at step 2")
	}
	// Closing with « Fermer quand même » ends the flow and its data.
	resp := a.postForm(paths.RecoveryCancel, url.Values{csrfField: {a.csrfToken("/")}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("cancel: %d", resp.StatusCode)
	}
	d = doc(t, a.get("/"))
	if d.Find(`dialog[data-open="true"]`).Length() != 0 {
		t.Error("the dialog reopens after cancelling")
	}
}

func TestRecoveryRequestRateLimits(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	for i := 1; i <= 5; i++ {
		b := a.browser()
		if resp, _ := b.request("parents", "P003"); resp.StatusCode != 200 {
			t.Fatalf("request %d refused: %d", i, resp.StatusCode)
		}
	}
	resp, html := a.browser().request("parents", "p003 ")
	if resp.StatusCode != http.StatusTooManyRequests || !strings.Contains(html, "réessayez dans") || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("6th code for one identifier: %d %s", resp.StatusCode, html)
	}
	// Another identifier is not affected; the limit ends with its window.
	if resp, _ := a.browser().request("parents", "P001"); resp.StatusCode != 200 {
		t.Errorf("another identifier refused: %d", resp.StatusCode)
	}
	a.advance(61 * time.Minute)
	if resp, _ := a.browser().request("parents", "P003"); resp.StatusCode != 200 {
		t.Errorf("still refused an hour later: %d", resp.StatusCode)
	}
}

func TestRecoveryRequestBadInput(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	tests := []struct {
		name string
		form url.Values
		want string
	}{
		{"empty", url.Values{"population": {"parents"}, "input": {""}, "consent": {"yes"}}, "Saisissez votre identifiant"},
		{"no consent", url.Values{"population": {"parents"}, "input": {"P003"}}, "Cochez cette case"},
		{"bad address", url.Values{"population": {"parents"}, "input": {"a@b@c.fr"}, "consent": {"yes"}}, "adresse e-mail valide"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, html := a.step(paths.RecoveryRequest, tt.form)
			if resp.StatusCode != 422 || !strings.Contains(html, tt.want) {
				t.Errorf("%d %s", resp.StatusCode, html)
			}
		})
	}
	// Too long, or not a form at all: refused before anything is stored.
	form := url.Values{csrfField: {a.csrfToken("/")}, "population": {"parents"}, "input": {strings.Repeat("x", 300)}, "consent": {"yes"}}
	if resp := a.postForm(paths.RecoveryRequest, form); resp.StatusCode != 400 {
		t.Errorf("300-character input: status %d", resp.StatusCode)
	}
	if n, _ := a.st.DB().Collection("recovery_flows").CountDocuments(context.Background(), bson.D{}); n != 0 {
		t.Errorf("bad input stored %d flows", n)
	}
}
