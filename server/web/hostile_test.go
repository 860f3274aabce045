package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"syscall"
	"testing"

	"github.com/PuerkitoBio/goquery"
	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/paths"
)

// wire sends requests to a over a real loopback connection, carrying and
// keeping each browser's cookies. Hostile requests need it: fasthttp
// refuses some before any handler runs (a body over BodyLimit, a broken
// multipart body), and app.Test then returns an error instead of the page
// the person would see.
type wire struct {
	base   string
	client *http.Client
}

func newWire(a *testApp) *wire {
	base, client := listen(a.t, a.app)
	return &wire{base: base, client: client}
}

// send is testApp.do over the wire: b's cookies go with the request, and
// the ones set come back into b's jar.
func (w *wire) send(b *testApp, method, path, contentType string, body io.Reader, headers ...string) *http.Response {
	b.t.Helper()
	// An oversized body is refused (413) before the server has read it,
	// and the server then closes: a client still writing may see the
	// connection reset instead of the answer. A person's browser would
	// show the answer or an error; here the request is sent again (the
	// body kept in memory) until the answer is read.
	chunked := true
	switch body.(type) {
	case nil, *strings.Reader, *bytes.Reader, *bytes.Buffer:
		chunked = false // http.NewRequest knows their length
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = io.ReadAll(body); err != nil {
			b.t.Fatal(err)
		}
	}
	var resp *http.Response
	var err error
	for try := 0; ; try++ {
		resp, err = w.sendOnce(b, method, path, contentType, raw, chunked, headers...)
		if err == nil || try == 4 || !(errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)) {
			break
		}
	}
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(b.jar, c.Name)
		} else {
			b.jar[c.Name] = c.Value
		}
	}
	return resp
}

// sendOnce sends one request; chunked keeps the body's length unknown.
func (w *wire) sendOnce(b *testApp, method, path, contentType string, raw []byte, chunked bool, headers ...string) (*http.Response, error) {
	var body io.Reader = bytes.NewReader(raw)
	if chunked {
		body = io.MultiReader(body)
	}
	req, err := http.NewRequest(method, w.base+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept-Language", "fr-FR,fr;q=0.9")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	for k, v := range b.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	return w.client.Do(req)
}

// dbState is what a refused request must leave as it was.
type dbState struct {
	counts   map[string]int64
	accounts map[string]account.Account
}

var (
	watchedCollections = []string{"recovery_flows", "sessions", "email_changes", "mail_outbox", "mail_outbox_log", "accounts", "account_emails"}
	seededAccounts     = []string{"p001", "p002", "p003", "s100", "e500"}
)

func snapshot(t *testing.T, a *testApp) dbState {
	t.Helper()
	s := dbState{counts: map[string]int64{}, accounts: map[string]account.Account{}}
	for _, c := range watchedCollections {
		n, err := a.st.DB().Collection(c).CountDocuments(context.Background(), bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		s.counts[c] = n
	}
	for _, id := range seededAccounts {
		acc, err := a.st.Accounts().GetAccount(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		s.accounts[id] = acc
	}
	return s
}

func (s dbState) diff(after dbState) string {
	var out []string
	for _, c := range watchedCollections {
		if s.counts[c] != after.counts[c] {
			out = append(out, fmt.Sprintf("%s: %d → %d documents", c, s.counts[c], after.counts[c]))
		}
	}
	for _, id := range seededAccounts {
		if !reflect.DeepEqual(s.accounts[id], after.accounts[id]) {
			out = append(out, fmt.Sprintf("account %s changed:\n  %+v\n  %+v", id, s.accounts[id], after.accounts[id]))
		}
	}
	return strings.Join(out, "\n")
}

// pageText is the visible text of a page: its heading and messages.
func pageText(t *testing.T, resp *http.Response) (h1, text, lang string) {
	t.Helper()
	defer resp.Body.Close()
	d, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	lang, _ = d.Find("html").Attr("lang")
	return strings.TrimSpace(d.Find("h1").First().Text()), strings.Join(strings.Fields(d.Text()), " "), lang
}

const formType = "application/x-www-form-urlencoded"

func TestHostileRequests(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	w := newWire(a)
	// anon is a browser at the login page; user is signed in as P003;
	// other is another browser, whose token anon must not be able to use.
	anon := a.browser()
	tok := anon.csrfToken("/")
	other := a.browser()
	otherTok := other.csrfToken("/")
	user := a.browser()
	if resp := user.signIn("P003", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	utok := user.csrfToken(paths.Account)

	rec := func(input string, extra ...string) string {
		v := url.Values{csrfField: {tok}, "kind": {"password"}, "population": {"parents"}, "input": {input}, "consent": {"yes"}}
		for i := 0; i+1 < len(extra); i += 2 {
			v.Set(extra[i], extra[i+1])
		}
		return v.Encode()
	}
	login := func(id, pw string) string {
		return url.Values{csrfField: {tok}, "identifier": {id}, "password": {pw}}.Encode()
	}
	profile := func(email, phone string) string {
		return url.Values{csrfField: {utok}, "email": {email}, "phone": {phone}}.Encode()
	}
	without := func(body, field string) string {
		v, _ := url.ParseQuery(body)
		v.Del(field)
		return v.Encode()
	}
	pad := "&pad=" + strings.Repeat("x", 65<<10) // the body goes over 64 KiB
	long := strings.Repeat("A", 10<<10)
	manyFields := func(body string) string {
		var b strings.Builder
		for i := range 6000 {
			fmt.Fprintf(&b, "f%d=1&", i)
		}
		return b.String() + body
	}
	jsonBody := func(v any) string { b, _ := json.Marshal(v); return string(b) }
	multipartBody := func(fields map[string]string) (string, string) {
		var b bytes.Buffer
		mw := multipart.NewWriter(&b)
		for k, v := range fields {
			_ = mw.WriteField(k, v)
		}
		_ = mw.Close()
		return mw.FormDataContentType(), b.String()
	}
	mpCT, mpBody := multipartBody(map[string]string{"kind": "password", "population": "parents", "input": "P003", "consent": "yes"})
	mpTokCT, mpTokBody := multipartBody(map[string]string{csrfField: tok, "kind": "password", "population": "parents", "input": "a@b.fr\r\nBcc: x@y.fr", "consent": "yes"})

	const (
		tooBig       = "Envoi trop volumineux"
		expired      = "Formulaire expiré"
		notAllowed   = "Action non autorisée"
		badRequest   = "Demande incorrecte"
		emailInvalid = "Saisissez une adresse e-mail valide"
		phoneInvalid = "Saisissez un numéro valide"
		consent      = "Cochez cette case"
		loginInvalid = "Identifiant ou mot de passe incorrect"
		chooser      = "cliquez sur le cas qui vous concerne"
	)
	tests := []struct {
		name    string
		browser *testApp
		method  string
		path    string
		ct      string
		body    string
		chunked bool
		headers []string
		status  int
		want    string // French text the page must show
	}{
		// Bodies over Fiber's BodyLimit (64 KiB): the friendly 413 page.
		{"oversized recovery form", anon, "POST", paths.RecoveryRequest, formType, rec("P003") + pad, false, nil, 413, tooBig},
		{"oversized sign-in form", anon, "POST", paths.Login, formType, login("P003", annePassword) + pad, false, nil, 413, tooBig},
		{"oversized profile form", user, "POST", paths.Account, formType, profile("x@example.fr", "") + pad, false, nil, 413, tooBig},
		{"oversized chunked body", anon, "POST", paths.RecoveryRequest, formType, rec("P003") + pad, true, nil, 413, tooBig},
		{"oversized multipart body", anon, "POST", paths.RecoveryRequest, mpCT, strings.Replace(mpBody, "P003", "P003"+strings.Repeat("x", 70<<10), 1), false, nil, 413, tooBig},
		{"huge number of fields, over the limit", anon, "POST", paths.RecoveryRequest, formType, manyFields(manyFields(rec("P003"))), false, nil, 413, tooBig},

		// Invalid UTF-8 (%FF decodes to the byte 0xFF).
		{"invalid UTF-8 e-mail in recovery", anon, "POST", paths.RecoveryRequest, formType, rec("l\xffo@example.fr"), false, nil, 422, emailInvalid},
		{"invalid UTF-8 address, forgotten identifier", anon, "POST", paths.RecoveryRequest, formType, rec("\xff@example.fr", "kind", "identifier"), false, nil, 422, emailInvalid},
		{"invalid UTF-8 profile e-mail", user, "POST", paths.Account, formType, profile("l\xffo@example.fr", ""), false, nil, 422, emailInvalid},
		{"invalid UTF-8 profile phone", user, "POST", paths.Account, formType, profile("leo.martin@example.fr", "06\xff12345678"), false, nil, 422, phoneInvalid},
		{"invalid UTF-8 password at sign-in", anon, "POST", paths.Login, formType, login("P003", "\xff\xfe"+annePassword), false, nil, 200, loginInvalid},

		// Very long fields: refused by the form's shape, before any lookup.
		{"10 KB identifier in recovery", anon, "POST", paths.RecoveryRequest, formType, rec(long), false, nil, 400, badRequest},
		{"10 KB identifier at sign-in", anon, "POST", paths.Login, formType, login(long, annePassword), false, nil, 400, badRequest},
		{"10 KB profile e-mail", user, "POST", paths.Account, formType, profile(long+"@example.fr", ""), false, nil, 400, badRequest},
		{"10 KB flow id at step 2", anon, "POST", paths.RecoveryCode, formType, url.Values{csrfField: {tok}, "flow": {long}, "code": {"T3A8XQ"}}.Encode(), false, nil, 400, badRequest},

		// CSRF: no token, another browser's token, a cross-site request.
		{"no token, recovery", anon, "POST", paths.RecoveryRequest, formType, without(rec("P003"), csrfField), false, nil, 403, expired},
		{"no token, sign-in", anon, "POST", paths.Login, formType, without(login("P003", annePassword), csrfField), false, nil, 403, expired},
		{"no token, profile", user, "POST", paths.Account, formType, without(profile("x@example.fr", "0699999999"), csrfField), false, nil, 403, expired},
		{"another browser's token, recovery", anon, "POST", paths.RecoveryRequest, formType, rec("P003", csrfField, otherTok), false, nil, 403, expired},
		{"another browser's token, profile", user, "POST", paths.Account, formType, url.Values{csrfField: {otherTok}, "email": {"x@example.fr"}}.Encode(), false, nil, 403, expired},
		{"another browser's token in the header", anon, "POST", paths.Login, formType, without(login("P003", annePassword), csrfField), false, []string{"X-CSRF-Token", otherTok}, 403, expired},
		{"Sec-Fetch-Site cross-site", anon, "POST", paths.RecoveryRequest, formType, rec("P003"), false, []string{"Sec-Fetch-Site", "cross-site"}, 403, expired},
		{"Sec-Fetch-Site same-site (a sibling sub-domain)", user, "POST", paths.Account, formType, profile("x@example.fr", ""), false, []string{"Sec-Fetch-Site", "same-site"}, 403, expired},
		{"foreign Origin without Sec-Fetch-Site", anon, "POST", paths.Login, formType, login("P003", annePassword), false, []string{"Origin", "https://evil.example"}, 403, expired},

		// Methods no form uses.
		{"PUT recovery", anon, "PUT", paths.RecoveryRequest, formType, rec("P003"), false, nil, 405, notAllowed},
		{"DELETE account", user, "DELETE", paths.Account, formType, profile("x@example.fr", ""), false, nil, 405, notAllowed},
		{"PATCH account", user, "PATCH", paths.Account, formType, profile("x@example.fr", ""), false, nil, 405, notAllowed},
		{"PATCH sign-in", anon, "PATCH", paths.Login, formType, login("P003", annePassword), false, nil, 405, notAllowed},
		{"DELETE logout", user, "DELETE", paths.Logout, formType, url.Values{csrfField: {utok}}.Encode(), false, nil, 405, notAllowed},

		// Header injection in every address a mail may be sent to.
		{"CRLF in the recovery input", anon, "POST", paths.RecoveryRequest, formType, rec("leo.martin@example.fr\r\nBcc: x@evil.example"), false, nil, 422, emailInvalid},
		{"LF in the recovery input", anon, "POST", paths.RecoveryRequest, formType, rec("leo.martin@example.fr\nBcc: x@evil.example"), false, nil, 422, emailInvalid},
		{"CRLF in the forgotten-identifier address", anon, "POST", paths.RecoveryRequest, formType, rec(anneMail+"\r\nBcc: x@evil.example", "kind", "identifier"), false, nil, 422, emailInvalid},
		{"CRLF in the profile e-mail", user, "POST", paths.Account, formType, profile("leo@example.fr\r\nBcc: x@evil.example", ""), false, nil, 422, emailInvalid},
		{"encoded-word in the profile e-mail", user, "POST", paths.Account, formType, profile("=?utf-8?q?x=0D=0ABcc:_a@evil.example?= <leo@example.fr>", ""), false, nil, 422, emailInvalid},
		{"two addresses in the profile e-mail", user, "POST", paths.Account, formType, profile("leo@example.fr, x@evil.example", ""), false, nil, 422, emailInvalid},

		// NUL bytes.
		{"NUL in the recovery e-mail", anon, "POST", paths.RecoveryRequest, formType, rec("leo.martin@example.fr\x00"), false, nil, 422, emailInvalid},
		{"NUL in the profile e-mail", user, "POST", paths.Account, formType, profile("leo\x00@example.fr", ""), false, nil, 422, emailInvalid},
		{"NUL in the profile phone", user, "POST", paths.Account, formType, profile("leo.martin@example.fr", "06\x0012345678"), false, nil, 422, phoneInvalid},
		{"NUL in the identifier at sign-in", anon, "POST", paths.Login, formType, login("P003\x00", annePassword), false, nil, 200, loginInvalid},
		{"invalid UTF-8 identifier at sign-in", anon, "POST", paths.Login, formType, login("P0\xff03", annePassword), false, nil, 200, loginInvalid},
		{"NUL in the password at sign-in", anon, "POST", paths.Login, formType, login("P003", annePassword+"\x00"), false, nil, 200, loginInvalid},

		// Many fields under the limit: ignored, the form is still checked.
		{"6,000 extra fields", anon, "POST", paths.RecoveryRequest, formType, manyFields(without(rec("P003"), "consent")), false, nil, 422, consent},
		{"the input field repeated", anon, "POST", paths.RecoveryRequest, formType, without(rec("P003"), "consent") + strings.Repeat("&input=P001", 2000), false, nil, 422, consent},

		// A population that does not exist: back to the chooser.
		{"unknown population", anon, "POST", paths.RecoveryRequest, formType, rec("P003", "population", "aliens"), false, nil, 200, chooser},
		{"population path", anon, "POST", paths.RecoveryRequest, formType, rec("P003", "population", "../parents"), false, nil, 200, chooser},
		{"population too long", anon, "POST", paths.RecoveryRequest, formType, rec("P003", "population", strings.Repeat("p", 40)), false, nil, 400, badRequest},

		// Other encodings where a form is expected.
		{"JSON with the token inside", anon, "POST", paths.RecoveryRequest, "application/json", jsonBody(map[string]string{csrfField: tok, "population": "parents", "input": "P003", "consent": "yes"}), false, nil, 403, expired},
		{"JSON with the header token, wrong types", anon, "POST", paths.RecoveryRequest, "application/json", `{"population":["parents"],"input":{"$ne":null},"consent":true}`, false, []string{"X-CSRF-Token", tok}, 400, badRequest},
		{"JSON profile with the header token, CRLF address", user, "POST", paths.Account, "application/json", jsonBody(map[string]string{"email": "x@y.fr\r\nBcc: z@evil.example"}), false, []string{"X-CSRF-Token", utok}, 422, emailInvalid},
		{"XML sign-in", anon, "POST", paths.Login, "application/xml", "<loginForm><Identifier>P003</Identifier><Password>x</Password></loginForm>", false, nil, 403, expired},
		{"multipart without a token", anon, "POST", paths.RecoveryRequest, mpCT, mpBody, false, nil, 403, expired},
		{"multipart with a token, CRLF address", anon, "POST", paths.RecoveryRequest, mpTokCT, mpTokBody, false, nil, 422, emailInvalid},
		{"multipart without its closing boundary", anon, "POST", paths.RecoveryRequest, mpTokCT, strings.TrimSuffix(mpTokBody, "--\r\n"), false, nil, 400, badRequest},
		// Without a boundary the token cannot be read: refused as a forgery.
		{"multipart without a boundary", anon, "POST", paths.RecoveryRequest, "multipart/form-data", mpTokBody, false, nil, 403, expired},
		{"text/plain body", anon, "POST", paths.RecoveryRequest, "text/plain", rec("P003"), false, []string{"X-CSRF-Token", tok}, 400, badRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := snapshot(t, a)
			var body io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				body = io.MultiReader(body) // unknown length: sent chunked
			}
			resp := w.send(tt.browser, tt.method, tt.path, tt.ct, body, tt.headers...)
			if resp.StatusCode != tt.status {
				h1, text, _ := pageText(t, resp)
				t.Fatalf("status %d, want %d (h1 %q): %.300s", resp.StatusCode, tt.status, h1, text)
			}
			if tt.status == http.StatusMethodNotAllowed && resp.Header.Get("Allow") != "GET, HEAD, POST" {
				t.Errorf("Allow = %q", resp.Header.Get("Allow"))
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type = %q, want a page", ct)
			}
			h1, text, lang := pageText(t, resp)
			if lang != "fr" || !strings.Contains(text, tt.want) {
				t.Errorf("lang %q, h1 %q: page lacks %q: %.400s", lang, h1, tt.want, text)
			}
			if d := before.diff(snapshot(t, a)); d != "" {
				t.Errorf("the database changed:\n%s", d)
			}
		})
	}
	// Still signed in, still the same person: no case above touched them.
	if resp := user.get(paths.Account); resp.StatusCode != http.StatusOK {
		t.Errorf("the signed-in browser lost its session: %d", resp.StatusCode)
	}
}

// TestHostileIdentifiersAnswerLikeUnknown: identifiers that cannot exist
// (invalid UTF-8, NUL, invisible characters, the longest accepted) get
// exactly the answer of an unknown identifier: the same words, a flow
// whose step 2 works like any other, no mail. Refusing them instead would
// be right too, but answering differently from an unknown identifier is
// not needed: no real identifier has these characters.
func TestHostileIdentifiersAnswerLikeUnknown(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	w := newWire(a)
	_, want := a.browser().request("parents", "NOBODY42")
	for _, in := range []string{"P0\xff03", "\xc0\xaf", "P0\x0003", "P003\u200b", "\u202eP003", "ＰＯＯ３", strings.Repeat("p", 254)} {
		t.Run(fmt.Sprintf("%.20q", in), func(t *testing.T) {
			b := a.browser()
			tok := b.csrfToken("/")
			before := snapshot(t, a)
			form := url.Values{csrfField: {tok}, "kind": {"password"}, "population": {"parents"}, "input": {in}, "consent": {"yes"}}
			resp := b.follow(w.send(b, "POST", paths.RecoveryRequest, formType, strings.NewReader(form.Encode())))
			d, err := goquery.NewDocumentFromReader(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			got, _ := goquery.OuterHtml(d.Find("#recovery-step"))
			if resp.StatusCode != http.StatusOK || normalise(got) != normalise(want) {
				t.Fatalf("status %d, answer differs from an unknown identifier's:\n%s\n---\n%s", resp.StatusCode, got, want)
			}
			after := snapshot(t, a)
			if after.counts["recovery_flows"] != before.counts["recovery_flows"]+1 {
				t.Errorf("flows %d → %d, want one more", before.counts["recovery_flows"], after.counts["recovery_flows"])
			}
			// A person types the code once the mail has come: after the
			// dispatcher (a guess racing it may get 409 « réessayez »).
			settleRecovery(t, a, b)
			resp = w.send(b, "POST", paths.RecoveryCode, formType, strings.NewReader(url.Values{csrfField: {tok}, "code": {"T3A8XQ"}}.Encode()))
			if _, text, _ := pageText(t, resp); resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(text, "Il vous reste 4 essais") {
				t.Errorf("step 2: status %d: %.300s", resp.StatusCode, text)
			}
		})
	}
	if n := len(a.smtp.All()); n != 0 {
		t.Errorf("%d mails sent for identifiers that do not exist", n)
	}
}

// TestHostileReplayAfterSignOut decides what a form token is worth once
// its browser has signed out. The token is bound to the browser's CSRF
// cookie, not to the session, so signing out does not void it (other tabs
// of the login page keep working); what a replay cannot do is act as the
// person, because sign-out ends the session on the server.
func TestHostileReplayAfterSignOut(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	w := newWire(a)
	b := a.browser()
	if resp := b.signIn("P001", annePassword); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-in: %d", resp.StatusCode)
	}
	tok := b.csrfToken(paths.Account)
	captured := map[string]string{}
	for k, v := range b.jar {
		captured[k] = v
	}
	if captured["sesame_session"] == "" || captured["sesame_csrf"] == "" {
		t.Fatalf("jar = %v", captured)
	}
	change := url.Values{csrfField: {tok}, "email": {"attaquant@evil.example"}, "phone": {"0699999999"}}.Encode()
	if resp := w.send(b, "POST", paths.Logout, formType, strings.NewReader(url.Values{csrfField: {tok}}.Encode())); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	before := snapshot(t, a)

	// The same browser, signed out, replays the profile form.
	resp := w.send(b, "POST", paths.Account, formType, strings.NewReader(change))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("signed-out browser: status %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	// Someone who captured the whole request (both cookies and the token)
	// replays it.
	thief := a.browser()
	for k, v := range captured {
		thief.jar[k] = v
	}
	resp = w.send(thief, "POST", paths.Account, formType, strings.NewReader(change))
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Errorf("replayed request: status %d to %q, want 303 to /", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, ok := thief.jar["sesame_session"]; ok {
		t.Error("the dead session cookie was not cleared")
	}
	thief.jar["sesame_session"] = captured["sesame_session"]
	resp = w.send(thief, "POST", paths.AccountPassword, formType, strings.NewReader(url.Values{csrfField: {tok}, "current": {annePassword}, "password": {"Trois chats sur le toit 42"}, "confirm": {"Trois chats sur le toit 42"}}.Encode()))
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("replayed password change: status %d", resp.StatusCode)
	}
	// Signing out twice is harmless.
	if resp := w.send(thief, "POST", paths.Logout, formType, strings.NewReader(url.Values{csrfField: {tok}}.Encode())); resp.StatusCode != http.StatusSeeOther {
		t.Errorf("second logout: %d", resp.StatusCode)
	}
	if d := before.diff(snapshot(t, a)); d != "" {
		t.Errorf("a replay after sign-out changed the database:\n%s", d)
	}
	if !passwordOK(t, a, "p001", annePassword) {
		t.Error("the replayed password change went through")
	}
	// The token still serves its own browser's anonymous forms…
	resp = w.send(b, "POST", paths.Login, formType, strings.NewReader(url.Values{csrfField: {tok}, "identifier": {"P001"}, "password": {"nope-nope-nope"}}.Encode()))
	if _, text, _ := pageText(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(text, "Identifiant ou mot de passe incorrect") {
		t.Errorf("login form with the old token: %d %.200s", resp.StatusCode, text)
	}
	// …and no other browser's.
	stranger := a.browser()
	stranger.csrfToken("/")
	resp = w.send(stranger, "POST", paths.Login, formType, strings.NewReader(url.Values{csrfField: {tok}, "identifier": {"P001"}, "password": {annePassword}}.Encode()))
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("old token in another browser: %d", resp.StatusCode)
	}
}

// TestHostileProfileEmailC1Control: net/mail accepts any non-ASCII rune in
// an atom, C1 controls (U+0080–U+009F) included, but the outbox refuses a
// recipient with a control character. ValidEmail must refuse them first:
// otherwise the profile form answers 500 after storing the e-mail change
// (as it did before 280dfc0).
func TestHostileProfileEmailC1Control(t *testing.T) {
	a := newTestApp(t)
	a.seed()
	a.signIn("P003", annePassword)
	before := snapshot(t, a)
	resp := a.postForm(paths.Account, url.Values{csrfField: {a.csrfToken(paths.Account)}, "email": {"leo\u0085@example.fr"}, "phone": {""}})
	if resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("status %d, want 422", resp.StatusCode)
	}
	if got := doc(t, resp).Find("#pf-email-error").Text(); !strings.Contains(got, "adresse e-mail valide") {
		t.Errorf("#pf-email-error = %q", got)
	}
	if d := before.diff(snapshot(t, a)); d != "" {
		t.Errorf("the database changed:\n%s", d)
	}
}

// TestHostileEarlyErrorPages: the pages fasthttp answers before any
// middleware (a body over the limit, an unreadable multipart body) carry
// the same headers as every other page, and a 400 does not tell people to
// simply try again.
func TestHostileEarlyErrorPages(t *testing.T) {
	a := newTestApp(t)
	w := newWire(a)
	b := a.browser()
	tok := b.csrfToken("/")
	for _, tt := range []struct {
		name, ct, body string
		status         int
	}{
		{"body over 64 KiB", formType, strings.Repeat("x", 65<<10), 413},
		{"multipart without its end", "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"_csrf\"\r\n\r\n" + tok + "\r\n", 400},
		{"10 KB identifier", formType, url.Values{csrfField: {tok}, "identifier": {strings.Repeat("A", 10<<10)}, "password": {"x"}}.Encode(), 400},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := w.send(b, "POST", paths.Login, tt.ct, strings.NewReader(tt.body))
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.status)
			}
			for h, want := range map[string]string{"Content-Security-Policy": "default-src 'none'", "X-Frame-Options": "DENY", "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"} {
				if got := resp.Header.Get(h); !strings.Contains(got, want) {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			if _, text, _ := pageText(t, resp); tt.status == 400 && strings.Contains(text, "Réessayez dans quelques instants") {
				t.Errorf("a 400 tells people to retry the same request: %.200s", text)
			}
		})
	}
}
