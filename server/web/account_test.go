package web_test

import (
	"context"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// signIn posts the login form and returns the answer.
func (a *testApp) signIn(identifier, password string) *http.Response {
	a.t.Helper()
	return a.postForm(paths.Login, url.Values{csrfField: {a.csrfToken("/")}, "identifier": {identifier}, "password": {password}})
}

func loginError(t *testing.T, resp *http.Response) string {
	t.Helper()
	return strings.TrimSpace(doc(t, resp).Find("#login-error").Text())
}

func TestSignIn(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	tests := []struct {
		name, identifier, password string
		wantRedirect               bool
		wantText                   string
	}{
		{"identifier", "P003", annePassword, true, ""},
		{"identifier in lower case with spaces", "  p003 ", annePassword, true, ""},
		{"unique e-mail", "Leo.Martin@example.fr", annePassword, true, ""},
		{"wrong password", "P003", "nope-nope-nope", false, "Identifiant ou mot de passe incorrect"},
		{"unknown identifier", "ZZ999", annePassword, false, "Identifiant ou mot de passe incorrect"},
		{"pending account", "S100", annePassword, false, "pas encore activé"},
		{"pending account, wrong password", "S100", "nope-nope-nope", false, "Identifiant ou mot de passe incorrect"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := a.browser()
			resp := b.signIn(tt.identifier, tt.password)
			if tt.wantRedirect {
				if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != paths.Account {
					t.Fatalf("status %d location %q", resp.StatusCode, resp.Header.Get("Location"))
				}
				var cookie *http.Cookie
				for _, c := range resp.Cookies() {
					if c.Name == "sesame_session" {
						cookie = c
					}
				}
				if cookie == nil || !cookie.HttpOnly || cookie.SameSite != http.SameSiteLaxMode {
					t.Fatalf("session cookie = %+v", cookie)
				}
				d := doc(t, b.get(paths.Account))
				if !strings.Contains(d.Find("h1").Text(), "Mes informations personnelles") {
					t.Errorf("account page h1 = %q", d.Find("h1").Text())
				}
				// Only the hash of the token is stored.
				n, _ := a.st.DB().Collection("sessions").CountDocuments(context.Background(), bson.D{{Key: "_id", Value: cookie.Value}})
				if n != 0 {
					t.Error("the session token is stored in clear")
				}
				return
			}
			if resp.StatusCode == http.StatusSeeOther {
				t.Fatal("signed in")
			}
			if got := doc(t, resp).Text(); !strings.Contains(got, tt.wantText) {
				t.Errorf("page lacks %q", tt.wantText)
			}
		})
	}
}

func TestSignInSharedEmailAsksWhichIdentifier(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	d := doc(t, a.signIn(anneMail, annePassword))
	links := d.Find("#login-choose a")
	if links.Length() != 2 || !strings.Contains(links.Text(), "P001") || !strings.Contains(links.Text(), "P002") {
		t.Fatalf("choices = %q", d.Find("#login-choose").Text())
	}
	// The identifier and the name read apart (« P001 — Anne Durand », not
	// « P001Anne Durand »).
	if got := links.Eq(0).Text(); got != "P001 — Anne Durand" {
		t.Errorf("first choice reads %q", got)
	}
	href, _ := links.Eq(1).Attr("href")
	d = doc(t, a.get(href))
	if v, _ := d.Find("#identifier").Attr("value"); v != "P002" {
		t.Errorf("identifier prefilled = %q", v)
	}
	// With a wrong password, the shared address gives the generic answer.
	if msg := loginError(t, a.browser().signIn(anneMail, "nope-nope-nope")); !strings.Contains(msg, "incorrect") {
		t.Errorf("shared address, wrong password: %q", msg)
	}
}

func TestSignInThrottling(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	for i := 1; i <= 5; i++ {
		if msg := loginError(t, a.signIn("P003", "wrong-password-"+itoa(i))); !strings.Contains(msg, "incorrect") {
			t.Fatalf("failure %d: %q", i, msg)
		}
	}
	// The 6th failure imposes a wait; during it even the right password
	// is refused, without saying whether it was right.
	a.signIn("P003", "wrong-password-6")
	resp := a.signIn("P003", annePassword)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("while throttled: status %d", resp.StatusCode)
	}
	if msg := loginError(t, resp); !strings.Contains(msg, "réessayez dans") {
		t.Errorf("throttled message = %q", msg)
	}
	// An unknown identifier is throttled the same way: throttling tells
	// nothing about which identifiers exist.
	for i := 1; i <= 6; i++ {
		a.signIn("GHOST1", "wrong-password")
	}
	if resp := a.signIn("GHOST1", "wrong-password"); resp.StatusCode != http.StatusTooManyRequests {
		t.Errorf("unknown identifier not throttled alike: %d", resp.StatusCode)
	}
	// Never a lock for good: after the wait, the right password works.
	a.advance(31 * time.Second)
	if resp := a.signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("after the wait: status %d", resp.StatusCode)
	}
	// Another person is not affected by P003's failures.
	if resp := a.browser().signIn("P001", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("another account: status %d", resp.StatusCode)
	}
	var events []bson.M
	cur, _ := a.st.DB().Collection("audit").Find(context.Background(), bson.D{{Key: "action", Value: "signin"}, {Key: "outcome", Value: "throttled"}})
	_ = cur.All(context.Background(), &events)
	if len(events) == 0 {
		t.Error("throttling is not audited")
	}
}

func TestSessions(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	ctx := context.Background()
	first := a.browser()
	first.signIn("P003", annePassword)
	token1 := first.jar["sesame_session"]
	// A new sign-in on the same browser gets a new id; the old one ends.
	first.signIn("P003", annePassword)
	if first.jar["sesame_session"] == token1 {
		t.Error("the session id was not renewed at sign-in")
	}
	old := first.browser()
	old.jar["sesame_session"] = token1
	if resp := old.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the replaced session still works: %d", resp.StatusCode)
	}

	// Idle timeout: 30 minutes without a request.
	if resp := first.get(paths.Account); resp.StatusCode != 200 {
		t.Fatalf("account page: %d", resp.StatusCode)
	}
	a.advance(31 * time.Minute)
	if resp := first.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 31 idle minutes: %d", resp.StatusCode)
	}

	// Absolute timeout: active all day, still ends after 12 hours.
	busy := a.browser()
	busy.signIn("P001", annePassword)
	for range 30 { // 12 h 30 min, never 30 minutes idle
		a.advance(25 * time.Minute)
		busy.get(paths.Account)
	}
	if resp := busy.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("after 12 h of activity: %d", resp.StatusCode)
	}

	// Sign-out ends the session on the server, not only in the browser.
	out := a.browser()
	out.signIn("P002", annePassword)
	stolen := out.jar["sesame_session"]
	resp := out.postForm(paths.Logout, url.Values{csrfField: {out.csrfToken(paths.Account)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	replay := a.browser()
	replay.jar["sesame_session"] = stolen
	if resp := replay.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Error("a signed-out session still works")
	}
	if n, _ := a.st.DB().Collection("sessions").CountDocuments(ctx, bson.D{{Key: "accountId", Value: "p002"}}); n != 0 {
		t.Errorf("%d sessions of P002 remain after sign-out", n)
	}
}

func account1(t *testing.T, a *testApp, id string) account.Account {
	t.Helper()
	acc, err := a.st.Accounts().GetAccount(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return acc
}

func TestProfileCoordinates(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.signIn("P003", annePassword)
	tok := a.csrfToken(paths.Account)
	post := func(form url.Values) *http.Response {
		form.Set(csrfField, tok)
		return a.postForm(paths.Account, form)
	}

	phones := []struct{ in, want string }{
		{"06 12 34 56 78", "+33612345678"},
		{"06.12.34.56.78", "+33612345678"},
		{"+33 6 12 34 56 78", "+33612345678"},
		{"0033612345678", "+33612345678"},
		{"+32 470 12 34 56", "+32470123456"},
	}
	for _, p := range phones {
		t.Run("phone "+p.in, func(t *testing.T) {
			resp := post(url.Values{"email": {"leo.martin@example.fr"}, "phone": {p.in}})
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := account1(t, a, "p003").Phone; got != p.want {
				t.Errorf("stored %q, want %q", got, p.want)
			}
		})
	}

	// Newsletter consent is recorded with its date.
	d := doc(t, post(url.Values{"email": {"leo.martin@example.fr"}, "phone": {"06 12 34 56 78"}, "newsletter": {"yes"}}))
	if acc := account1(t, a, "p003"); !acc.Newsletter || acc.NewsletterAt.IsZero() {
		t.Errorf("newsletter = %v at %v", acc.Newsletter, acc.NewsletterAt)
	}
	if !strings.Contains(d.Find(`[data-testid="saved"]`).Text(), "vous recevrez la lettre") {
		t.Errorf("saved = %q", d.Find(`[data-testid="saved"]`).Text())
	}

	// Bad input: a message next to the field, the typed value kept, nothing stored.
	before := account1(t, a, "p003")
	bad := []struct {
		name  string
		form  url.Values
		field string
		want  string
	}{
		{"malformed e-mail", url.Values{"email": {"leo.martin@"}, "phone": {"0612345678"}}, "#pf-email-error", "adresse e-mail valide"},
		{"header injection", url.Values{"email": {"x@y.fr\r\nBcc: z@w.fr"}, "phone": {"0612345678"}}, "#pf-email-error", "adresse e-mail valide"},
		{"malformed phone", url.Values{"email": {"leo.martin@example.fr"}, "phone": {"06 12 34"}}, "#pf-phone-error", "numéro valide"},
		{"letters in phone", url.Values{"email": {"leo.martin@example.fr"}, "phone": {"06 AB 34 56 78"}}, "#pf-phone-error", "numéro valide"},
		{"too long", url.Values{"email": {strings.Repeat("a", 250) + "@x.fr"}, "phone": {""}}, "#pf-email-error", "trop long"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			resp := post(tt.form)
			if resp.StatusCode != http.StatusUnprocessableEntity {
				t.Fatalf("status %d", resp.StatusCode)
			}
			d := doc(t, resp)
			if got := d.Find(tt.field).Text(); !strings.Contains(got, tt.want) {
				t.Errorf("%s = %q, want %q", tt.field, got, tt.want)
			}
			if v, _ := d.Find("#pf-phone").Attr("value"); v != tt.form.Get("phone") {
				t.Errorf("typed phone lost: %q", v)
			}
			if after := account1(t, a, "p003"); !reflect.DeepEqual(after, before) {
				t.Errorf("bad input changed the account:\n%+v\n%+v", before, after)
			}
		})
	}
	// No CSRF token: refused, nothing stored.
	resp := a.postForm(paths.Account, url.Values{"email": {"leo.martin@example.fr"}, "phone": {"0699999999"}})
	if resp.StatusCode != http.StatusForbidden || !reflect.DeepEqual(account1(t, a, "p003"), before) {
		t.Errorf("without CSRF: status %d", resp.StatusCode)
	}
}

func TestProfileEmailChange(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.signIn("P003", annePassword)
	// Without the current password, or with a wrong one, nothing changes
	// and no mail leaves.
	for _, current := range []string{"", "pas le bon"} {
		form := url.Values{csrfField: {a.csrfToken(paths.Account)}, "email": {"leo.nouveau@example.org"}, "phone": {""}, "current": {current}}
		resp := a.postForm(paths.Account, form)
		d := doc(t, resp)
		if resp.StatusCode != http.StatusUnprocessableEntity || d.Find("#pf-email-current-error").Text() == "" {
			t.Fatalf("current %q: status %d, error %q", current, resp.StatusCode, d.Find("#pf-email-current-error").Text())
		}
		if acc := account1(t, a, "p003"); acc.PendingEmail != "" {
			t.Fatalf("current %q: pending address stored: %q", current, acc.PendingEmail)
		}
	}
	form := url.Values{csrfField: {a.csrfToken(paths.Account)}, "email": {"leo.nouveau@example.org"}, "phone": {""}, "current": {annePassword}}
	d := doc(t, a.postForm(paths.Account, form))
	if !strings.Contains(d.Find(`[data-testid="pending"]`).Text(), "leo.nouveau@example.org") {
		t.Fatalf("pending note = %q", d.Find(`[data-testid="saved"]`).Text())
	}
	// Until confirmed, the old address stays.
	if acc := account1(t, a, "p003"); acc.Email != "leo.martin@example.fr" || acc.PendingEmail != "leo.nouveau@example.org" {
		t.Fatalf("before confirmation: %q pending %q", acc.Email, acc.PendingEmail)
	}
	m := a.smtp.Wait("leo.nouveau@example.org", 1, 5*time.Second)
	link, _ := url.Parse(m.Links()[0])
	// Opening the link (a mail scanner, twice) changes nothing.
	scanner := a.browser()
	for range 2 {
		d := doc(t, scanner.get(link.RequestURI()))
		if d.Find(`form[action="/account/email/confirm"] button`).Length() != 1 {
			t.Fatal("the link page has no confirmation button")
		}
	}
	if account1(t, a, "p003").Email != "leo.martin@example.fr" {
		t.Fatal("opening the link changed the address")
	}
	// The person confirms (from any browser: the link is the proof).
	resp := scanner.postForm(paths.AccountEmailConfirm, url.Values{csrfField: {scanner.csrfToken(link.RequestURI())}, "token": {link.Query().Get("token")}})
	if d := doc(t, resp); !strings.Contains(d.Text(), "est désormais l'adresse de votre compte") {
		t.Fatalf("confirm: %s", d.Text())
	}
	acc := account1(t, a, "p003")
	if acc.Email != "leo.nouveau@example.org" || acc.PendingEmail != "" {
		t.Errorf("after confirmation: %q pending %q", acc.Email, acc.PendingEmail)
	}
	if found, _ := a.st.Accounts().AccountsByEmail(context.Background(), "leo.nouveau@example.org"); len(found) != 1 {
		t.Error("the new address does not find the account")
	}
	// The old address is told.
	// (The first mail there said a change was asked, with a cancel link.)
	old := a.smtp.Wait("leo.martin@example.fr", 2, 5*time.Second)
	if !strings.Contains(old.Text, "leo.nouveau@example.org") || !strings.Contains(old.Text, "est désormais") {
		t.Errorf("notice to the old address:\n%s", old.Text)
	}
	// The link works once.
	d = doc(t, scanner.get(link.RequestURI()))
	if !strings.Contains(d.Text(), "n'est plus valable") {
		t.Error("a used link still offers to confirm")
	}
}

func TestProfilePasswordChange(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.signIn("P003", annePassword)
	phone := a.browser()
	phone.signIn("P003", annePassword)
	tok := a.csrfToken(paths.Account)
	change := func(current, next, confirm string) *http.Response {
		return a.postForm(paths.AccountPassword, url.Values{csrfField: {tok}, "current": {current}, "password": {next}, "confirm": {confirm}})
	}
	tests := []struct {
		name, current, next, confirm, field, want string
	}{
		{"wrong current", "nope-nope", "Trois chats sur le toit 42", "Trois chats sur le toit 42", "#pf-current-error", "actuel est incorrect"},
		{"weak", annePassword, "azerty", "azerty", "#pf-password-error", "ne respecte pas"},
		{"mismatch", annePassword, "Trois chats sur le toit 42", "Trois chats sur le toit 43", "#pf-confirm-error", "différents"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := change(tt.current, tt.next, tt.confirm)
			if got := doc(t, resp).Find(tt.field).Text(); resp.StatusCode != 422 || !strings.Contains(got, tt.want) {
				t.Errorf("%d %s = %q", resp.StatusCode, tt.field, got)
			}
			if !passwordOK(t, a, "p003", annePassword) {
				t.Fatal("a refused change changed the password")
			}
		})
	}
	resp := change(annePassword, "Trois chats sur le toit 42", "Trois chats sur le toit 42")
	if d := doc(t, resp); !strings.Contains(d.Find(`[data-testid="password-done"]`).Text(), "a été modifié") {
		t.Fatalf("change: %d %s", resp.StatusCode, d.Find("main").Text())
	}
	// This browser stays signed in; the phone's session is revoked.
	if resp := a.get(paths.Account); resp.StatusCode != 200 {
		t.Errorf("the current session ended: %d", resp.StatusCode)
	}
	if resp := phone.get(paths.Account); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("the other session survived: %d", resp.StatusCode)
	}
	if m := a.smtp.Wait("leo.martin@example.fr", 1, 5*time.Second); !strings.Contains(m.Subject, "modifié") {
		t.Errorf("notice = %q", m.Subject)
	}
	if resp := a.browser().signIn("P003", "Trois chats sur le toit 42"); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("sign-in with the new password: %d", resp.StatusCode)
	}
}
