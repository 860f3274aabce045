package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"go.mongodb.org/mongo-driver/v2/bson"
	"golang.org/x/oauth2"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/oidc"
	"github.com/sesame-edu/sesame/server/paths"
)

// The OpenID Connect tests drive Sésame with an unchanged third-party
// client: github.com/coreos/go-oidc with golang.org/x/oauth2, over a real
// listener, as an application's server would.

const (
	portalRedirect = "http://localhost:9000/cb"
	portalBye      = "http://localhost:9000/bye"
	cdiRedirect    = "http://localhost:9001/cb"
	cdiSecret      = "cdi-secret-for-tests-only"
)

// oidcServer is Sésame listening on a loopback port, its issuer.
type oidcServer struct {
	*testApp
	base     string
	provider *gooidc.Provider
	// logouts receives the logout tokens the test application's
	// back-channel endpoint gets.
	logouts chan string
	// bcDown makes the back-channel endpoint answer 503.
	bcDown chan bool
}

// withOIDCClients declares two applications: a public family portal for
// parents (PKCE), and the library's confidential client for everyone, with
// a back-channel logout endpoint.
func withOIDCClients(backchannel string) func(*app.Options) {
	return func(o *app.Options) {
		sc := *o.School
		sc.Clients = []clients.Client{{
			ID: "portail", Name: map[string]string{"fr": "Portail des familles", "en": "Family portal"},
			Protocol: clients.OIDC, RedirectURIs: []string{portalRedirect}, PostLogoutRedirectURIs: []string{portalBye},
			Populations: []string{"parents"},
		}, {
			ID: "cdi", Name: map[string]string{"fr": "CDI"}, Protocol: clients.OIDC,
			Secret: clients.PlaintextPrefix + cdiSecret, RedirectURIs: []string{cdiRedirect},
			BackchannelLogoutURI: backchannel,
		}}
		o.School = &sc
	}
}

// newOIDCServer starts Sésame on a loopback listener, with a test
// application's back-channel endpoint.
func newOIDCServer(t *testing.T, opts ...func(*app.Options)) *oidcServer {
	t.Helper()
	s := &oidcServer{logouts: make(chan string, 16), bcDown: make(chan bool, 1)}
	down := false
	bc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case down = <-s.bcDown:
		default:
		}
		if down {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		s.logouts <- r.PostFormValue("logout_token")
	}))
	t.Cleanup(bc.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.base = "http://" + ln.Addr().String()
	base, _ := url.Parse(s.base)
	all := append([]func(*app.Options){withOIDCClients(bc.URL + "/backchannel"), func(o *app.Options) {
		o.BaseURL = base
		o.OIDC = oidc.Config{LogoutPoll: 50 * time.Millisecond, LogoutFirstRetry: 50 * time.Millisecond, LogoutMaxRetry: 100 * time.Millisecond}
	}}, opts...)
	s.testApp = newTestApp(t, all...)
	go func() { _ = s.app.Listener(ln) }()
	// Closing the listener ends Listener; fasthttp's Shutdown races with a
	// Serve that has just started (the race detector sees it).
	t.Cleanup(func() { _ = ln.Close() })
	s.seed()
	s.provider, err = gooidc.NewProvider(context.Background(), s.base)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rp is an application: its OAuth 2.0 configuration and ID token verifier.
type rp struct {
	cfg      oauth2.Config
	verifier *gooidc.IDTokenVerifier
}

func (s *oidcServer) portal() rp {
	return rp{
		cfg: oauth2.Config{ClientID: "portail", RedirectURL: portalRedirect, Endpoint: s.provider.Endpoint(),
			Scopes: []string{gooidc.ScopeOpenID, "profile", "email", "groups", gooidc.ScopeOfflineAccess}},
		verifier: s.provider.Verifier(&gooidc.Config{ClientID: "portail"}),
	}
}

func (s *oidcServer) cdi(style oauth2.AuthStyle) rp {
	ep := s.provider.Endpoint()
	ep.AuthStyle = style
	return rp{
		cfg: oauth2.Config{ClientID: "cdi", ClientSecret: cdiSecret, RedirectURL: cdiRedirect, Endpoint: ep,
			Scopes: []string{gooidc.ScopeOpenID, "profile"}},
		verifier: s.provider.Verifier(&gooidc.Config{ClientID: "cdi"}),
	}
}

// person is a browser with its cookies.
type person struct {
	t      *testing.T
	s      *oidcServer
	client *http.Client
}

func (s *oidcServer) browser(t *testing.T) *person {
	jar, _ := cookiejar.New(nil)
	return &person{t: t, s: s, client: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

// follow GETs u and follows redirects while they stay on Sésame; it
// returns the last answer, and the URL outside Sésame it was sent to, if
// any.
func (p *person) follow(u string) (*http.Response, *url.URL) {
	p.t.Helper()
	for range 10 {
		resp, err := p.client.Get(u)
		if err != nil {
			p.t.Fatal(err)
		}
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return resp, nil
		}
		resp.Body.Close()
		loc, err := resp.Request.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			p.t.Fatal(err)
		}
		if !strings.HasPrefix(loc.String(), p.s.base) {
			return resp, loc
		}
		u = loc.String()
	}
	p.t.Fatal("too many redirects")
	return nil, nil
}

// signIn fills the sign-in page resp shows and follows on.
func (p *person) signIn(resp *http.Response, identifier string) (*http.Response, *url.URL) {
	p.t.Helper()
	d := doc(p.t, resp)
	tok, _ := d.Find(`input[name="_csrf"]`).First().Attr("value")
	action := p.s.base + paths.Login
	r, err := p.client.PostForm(action, url.Values{csrfField: {tok}, "identifier": {identifier}, "password": {annePassword}})
	if err != nil {
		p.t.Fatal(err)
	}
	if r.StatusCode != http.StatusSeeOther {
		p.t.Fatalf("sign-in answered %d", r.StatusCode)
	}
	r.Body.Close()
	return p.follow(p.s.base + r.Header.Get("Location"))
}

// authorize starts an authorization request of app and returns what the
// browser ends on.
func (p *person) authorize(app rp, opts ...oauth2.AuthCodeOption) (*http.Response, *url.URL) {
	return p.follow(app.cfg.AuthCodeURL("st-123", opts...))
}

// code signs identifier in through app's request (code + PKCE) and
// returns the code and the verifier.
func (p *person) code(app rp, identifier string, extra ...oauth2.AuthCodeOption) (code, verifier string) {
	p.t.Helper()
	verifier = oauth2.GenerateVerifier()
	opts := append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier), gooidc.Nonce("n-456")}, extra...)
	resp, back := p.authorize(app, opts...)
	if back == nil {
		resp, back = p.signIn(resp, identifier)
	}
	if back == nil {
		p.t.Fatalf("not sent back to the application: %d", resp.StatusCode)
	}
	q := back.Query()
	if q.Get("state") != "st-123" || q.Get("code") == "" {
		p.t.Fatalf("back at %s", back)
	}
	return q.Get("code"), verifier
}

func exchange(t *testing.T, app rp, code, verifier string) (*oauth2.Token, *gooidc.IDToken) {
	t.Helper()
	ctx := context.Background()
	tok, err := app.cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := app.verifier.Verify(ctx, raw)
	if err != nil {
		t.Fatalf("ID token does not verify: %v", err)
	}
	return tok, id
}

type claims struct {
	Sub               string   `json:"sub"`
	PreferredUsername string   `json:"preferred_username"`
	Name              string   `json:"name"`
	GivenName         string   `json:"given_name"`
	FamilyName        string   `json:"family_name"`
	Email             string   `json:"email"`
	Groups            []string `json:"groups"`
	Nonce             string   `json:"nonce"`
	Locale            string   `json:"locale"`
}

// TestOIDCCodeFlow: code + PKCE by a public client, the ID token verified
// through the JWKS, the claims its scopes release, and userinfo.
func TestOIDCCodeFlow(t *testing.T) {
	s := newOIDCServer(t)
	p := s.browser(t)
	portal := s.portal()
	code, verifier := p.code(portal, "P003")
	tok, id := exchange(t, portal, code, verifier)
	var c claims
	if err := id.Claims(&c); err != nil {
		t.Fatal(err)
	}
	want := claims{Sub: id.Subject, PreferredUsername: "P003", Name: "Léo Martin", GivenName: "Léo", FamilyName: "Martin",
		Email: "leo.martin@example.fr", Groups: []string{"parents"}, Nonce: "n-456", Locale: "fr"}
	if c.Sub == "" || strings.Contains(strings.ToLower(c.Sub), "p003") || !slices.Equal(c.Groups, want.Groups) {
		t.Errorf("sub %q, groups %v", c.Sub, c.Groups)
	}
	c.Groups, want.Groups = nil, nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("ID token claims %+v, want %+v", c, want)
	}
	if tok.RefreshToken == "" {
		t.Error("offline_access gave no refresh token")
	}
	// The token response names the scopes granted (RFC 6749 §5.1): all
	// of those asked, groups included.
	if got, _ := tok.Extra("scope").(string); !slices.Equal(strings.Fields(got), portal.cfg.Scopes) {
		t.Errorf("token response scope %q, want %q", got, strings.Join(portal.cfg.Scopes, " "))
	}
	info, err := s.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	var u claims
	_ = info.Claims(&u)
	if u.Sub != id.Subject || u.PreferredUsername != "P003" || u.Email != "leo.martin@example.fr" || !slices.Equal(u.Groups, []string{"parents"}) {
		t.Errorf("userinfo %+v", u)
	}

	t.Run("AuditedAndStoredOnlyHashed", func(t *testing.T) {
		for _, action := range []string{"oidc.code", "oidc.token"} {
			n, err := s.st.DB().Collection("audit").CountDocuments(context.Background(), bson.D{{Key: "action", Value: action},
				{Key: "client", Value: "portail"}, {Key: "accountId", Value: "p003"}, {Key: "ip", Value: "127.0.0.1"}, {Key: "outcome", Value: "ok"}})
			if err != nil || n != 1 {
				t.Errorf("%s audited %d times (%v), want once", action, n, err)
			}
		}
		for _, col := range []string{"oidc_tokens", "oidc_requests", "claims"} {
			cur, err := s.st.DB().Collection(col).Find(context.Background(), bson.D{})
			if err != nil {
				t.Fatal(err)
			}
			var docs []bson.M
			_ = cur.All(context.Background(), &docs)
			dump := fmt.Sprint(docs)
			for _, secret := range []string{tok.RefreshToken, tok.AccessToken, code} {
				if strings.Contains(dump, secret) {
					t.Errorf("%s holds a token or code in clear", col)
				}
			}
		}
	})
	t.Run("FormActionAllowsTheApplications", func(t *testing.T) {
		// Browsers apply form-action to the redirects after the sign-in
		// form's POST: without the application's origin there, the person
		// would stop at Sésame.
		resp, err := http.Get(s.base + paths.Login)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://localhost:9000 http://localhost:9001;") {
			t.Errorf("CSP = %q", csp)
		}
	})
	t.Run("SignedInPassesThrough", func(t *testing.T) {
		// Single sign-on: the same browser gets a code without a page.
		resp, back := p.authorize(portal, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		if back == nil || back.Query().Get("code") == "" {
			t.Fatalf("signed-in person stopped at %d", resp.StatusCode)
		}
	})
	t.Run("SameSubjectOnEveryClient", func(t *testing.T) {
		_, id2 := exchange(t, s.cdi(oauth2.AuthStyleInHeader), p.codeNoPKCE(s.cdi(oauth2.AuthStyleInHeader)), "")
		if id2.Subject != id.Subject {
			t.Errorf("sub %q on cdi, %q on portail", id2.Subject, id.Subject)
		}
	})
}

// codeNoPKCE gets a code for a confidential client that sends no PKCE,
// signing P003 in if needed.
func (p *person) codeNoPKCE(app rp) string {
	p.t.Helper()
	resp, back := p.authorize(app)
	if back == nil {
		_, back = p.signIn(resp, "P003")
	}
	if back == nil || back.Query().Get("code") == "" {
		p.t.Fatalf("no code for %s", app.cfg.ClientID)
	}
	return back.Query().Get("code")
}

// TestOIDCConfidentialClient: client_secret_basic and client_secret_post
// both authenticate; a wrong secret does not.
func TestOIDCConfidentialClient(t *testing.T) {
	s := newOIDCServer(t)
	p := s.browser(t)
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInHeader, oauth2.AuthStyleInParams} {
		cdi := s.cdi(style)
		code, verifier := p.code(cdi, "E500")
		exchange(t, cdi, code, verifier)
	}
	cdi := s.cdi(oauth2.AuthStyleInHeader)
	cdi.cfg.ClientSecret = "wrong"
	code, verifier := p.code(cdi, "E500")
	if _, err := cdi.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier)); err == nil || !strings.Contains(err.Error(), "invalid_client") {
		t.Errorf("wrong secret: %v", err)
	}
}

// TestOIDCCodeWorksOnce: a code presented again is refused, and what the
// first exchange gave is revoked.
func TestOIDCCodeWorksOnce(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	code, verifier := s.browser(t).code(portal, "P003")
	tok, _ := exchange(t, portal, code, verifier)
	_, err := portal.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(verifier))
	if err == nil || !strings.Contains(err.Error(), "invalid_grant") {
		t.Fatalf("second exchange: %v, want invalid_grant", err)
	}
	if _, err := s.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("the first exchange's access token still works")
	}
	if _, err := portal.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err == nil {
		t.Error("the first exchange's refresh token still works")
	}
}

// TestOIDCPKCE: a public client must send S256 PKCE, and the verifier
// must match.
func TestOIDCPKCE(t *testing.T) {
	s := newOIDCServer(t)
	p := s.browser(t)
	portal := s.portal()
	_, back := p.authorize(portal)
	if back == nil || back.Query().Get("error") != "invalid_request" {
		t.Errorf("no PKCE: sent to %v", back)
	}
	_, back = p.authorize(portal, oauth2.SetAuthURLParam("code_challenge", "abc"), oauth2.SetAuthURLParam("code_challenge_method", "plain"))
	if back == nil || back.Query().Get("error") != "invalid_request" {
		t.Errorf("plain PKCE: sent to %v", back)
	}
	code, _ := p.code(portal, "P003")
	if _, err := portal.cfg.Exchange(context.Background(), code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
		t.Error("a wrong verifier was accepted")
	}
}

// TestOIDCRefreshRotates: each refresh token works once and gives a new
// one; one used twice revokes the whole family.
func TestOIDCRefreshRotates(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	code, verifier := s.browser(t).code(portal, "P003")
	first, _ := exchange(t, portal, code, verifier)
	refresh := func(rt string) (*oauth2.Token, error) {
		return portal.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: rt}).Token()
	}
	second, err := refresh(first.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if second.RefreshToken == "" || second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatalf("refresh did not rotate")
	}
	raw, _ := second.Extra("id_token").(string)
	if _, err := portal.verifier.Verify(context.Background(), raw); err != nil {
		t.Errorf("refreshed ID token: %v", err)
	}
	if got, _ := second.Extra("scope").(string); !slices.Equal(strings.Fields(got), portal.cfg.Scopes) {
		t.Errorf("refreshed token's scope %q, want %q", got, strings.Join(portal.cfg.Scopes, " "))
	}
	if _, err := refresh(first.RefreshToken); err == nil {
		t.Fatal("a used refresh token worked again")
	}
	if _, err := refresh(second.RefreshToken); err == nil {
		t.Error("after reuse, the family's newest refresh token still works")
	}
	if _, err := s.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(second)); err == nil {
		t.Error("after reuse, the family's access token still works")
	}
}

// TestOIDCRevocation: a revoked refresh token and its access tokens stop
// working; revoking an access token ends it alone.
func TestOIDCRevocation(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	p := s.browser(t)
	revoke := func(token, hint string) int {
		resp, err := http.PostForm(s.base+paths.OIDCRevoke, url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {"portail"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	code, verifier := p.code(portal, "P003")
	tok, _ := exchange(t, portal, code, verifier)
	if st := revoke(tok.AccessToken, "access_token"); st != http.StatusOK {
		t.Fatalf("revoke access token: %d", st)
	}
	if _, err := s.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("revoked access token still works")
	}
	fresh, err := portal.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("the refresh token died with its access token: %v", err)
	}
	if st := revoke(fresh.RefreshToken, "refresh_token"); st != http.StatusOK {
		t.Fatalf("revoke refresh token: %d", st)
	}
	if _, err := portal.cfg.TokenSource(context.Background(), &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err == nil {
		t.Error("revoked refresh token still works")
	}
	if _, err := s.provider.UserInfo(context.Background(), oauth2.StaticTokenSource(fresh)); err == nil {
		t.Error("access token of a revoked refresh token still works")
	}
	if st := revoke("unknown-token", ""); st != http.StatusOK {
		t.Errorf("unknown token: %d, want 200 (RFC 7009)", st)
	}
}

// TestOIDCEndSession: an application's logout with an id_token_hint ends
// Sésame's session and goes on to its registered address, with its state;
// an unregistered address is refused.
func TestOIDCEndSession(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	p := s.browser(t)
	code, verifier := p.code(portal, "P003")
	tok, _ := exchange(t, portal, code, verifier)
	hint, _ := tok.Extra("id_token").(string)
	q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {portalBye}, "state": {"bye-1"}}
	_, back := p.follow(s.base + paths.OIDCEndSession + "?" + q.Encode())
	if back == nil || back.String() != portalBye+"?state=bye-1" {
		t.Fatalf("after end_session: %v", back)
	}
	// Signed out: the next authorization shows the sign-in page.
	if resp, back := p.authorize(portal, oauth2.S256ChallengeOption(oauth2.GenerateVerifier())); back != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("still signed in after end_session: %v", back)
	}
	q.Set("post_logout_redirect_uri", "https://attacker.example/")
	if resp, back := p.follow(s.base + paths.OIDCEndSession + "?" + q.Encode()); back != nil || resp.StatusCode < 400 {
		t.Errorf("unregistered post_logout_redirect_uri: %d %v", resp.StatusCode, back)
	}
	// A forged sign-out step is refused.
	if resp, back := p.follow(s.base + paths.OIDCEndSessionStep + "?to=https://attacker.example/&exp=9999999999&sig=x"); back != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("forged step: %d %v", resp.StatusCode, back)
	}
}

// TestOIDCRefusals: prompt=none without a session, a population the client
// does not admit, and a redirect_uri that is not registered.
func TestOIDCRefusals(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	pkce := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())

	t.Run("PromptNoneWithoutSession", func(t *testing.T) {
		_, back := s.browser(t).authorize(portal, pkce, oauth2.SetAuthURLParam("prompt", "none"))
		if back == nil || back.Query().Get("error") != "login_required" || back.Query().Get("state") != "st-123" {
			t.Fatalf("sent to %v, want login_required", back)
		}
	})
	t.Run("PopulationNotAdmitted", func(t *testing.T) {
		p := s.browser(t)
		resp, back := p.authorize(portal, pkce)
		resp, back = p.signIn(resp, "E500") // a student; the portal admits parents
		if back != nil || resp.StatusCode != http.StatusForbidden {
			t.Fatalf("student: %d, sent to %v", resp.StatusCode, back)
		}
		if body := doc(t, resp).Find("h1").Text(); !strings.Contains(body, "Accès non autorisé") {
			t.Errorf("refusal page heading %q", body)
		}
	})
	t.Run("RedirectURINotRegistered", func(t *testing.T) {
		other := portal
		other.cfg.RedirectURL = "https://attacker.example/cb"
		resp, back := s.browser(t).authorize(other, pkce)
		if back != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%d, sent to %v", resp.StatusCode, back)
		}
		d := doc(t, resp)
		if h := d.Find("h1").Text(); !strings.Contains(h, "Demande de connexion impossible") {
			t.Errorf("error page heading %q", h)
		}
	})
	t.Run("UnknownClient", func(t *testing.T) {
		other := portal
		other.cfg.ClientID = "nope"
		resp, back := s.browser(t).authorize(other, pkce)
		if back != nil || resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("%d, sent to %v", resp.StatusCode, back)
		}
	})
	t.Run("PromptLoginAsksAgain", func(t *testing.T) {
		p := s.browser(t)
		p.code(portal, "P003")
		resp, back := p.authorize(portal, pkce, oauth2.SetAuthURLParam("prompt", "login"))
		if back != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("prompt=login passed through: %v", back)
		}
		if _, back := p.signIn(resp, "P003"); back == nil || back.Query().Get("code") == "" {
			t.Errorf("after signing in again: %v", back)
		}
	})
	t.Run("LoginHintFillsIdentifier", func(t *testing.T) {
		resp, _ := s.browser(t).authorize(portal, pkce, oauth2.SetAuthURLParam("login_hint", "P003"))
		if v, _ := doc(t, resp).Find(`input[name="identifier"]`).Attr("value"); v != "P003" {
			t.Errorf("identifier field %q", v)
		}
	})
}

// TestOIDCBackchannelLogout: signing out of Sésame sends the applications
// the person signed in to a logout token that verifies against the JWKS,
// and one that is down gets it later.
func TestOIDCBackchannelLogout(t *testing.T) {
	s := newOIDCServer(t)
	p := s.browser(t)
	cdi := s.cdi(oauth2.AuthStyleInHeader)
	_, id := exchange(t, cdi, p.codeNoPKCE(cdi), "")
	s.bcDown <- true
	signOut := func() {
		resp, _ := p.follow(s.base + paths.Account)
		tok, _ := doc(t, resp).Find(`input[name="_csrf"]`).First().Attr("value")
		r, err := p.client.PostForm(s.base+paths.Logout, url.Values{csrfField: {tok}})
		if err != nil || r.StatusCode != http.StatusSeeOther {
			t.Fatalf("sign-out: %v", err)
		}
		r.Body.Close()
	}
	signOut()
	time.Sleep(150 * time.Millisecond) // a few failed attempts
	s.bcDown <- false
	var raw string
	select {
	case raw = <-s.logouts:
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token arrived")
	}
	// go-oidc checks the signature through the JWKS, iss, aud and exp.
	lt, err := s.provider.Verifier(&gooidc.Config{ClientID: "cdi"}).Verify(context.Background(), raw)
	if err != nil {
		t.Fatalf("logout token does not verify: %v", err)
	}
	var c struct {
		Events map[string]json.RawMessage `json:"events"`
		Nonce  *string                    `json:"nonce"`
		JTI    string                     `json:"jti"`
	}
	_ = lt.Claims(&c)
	if lt.Subject != id.Subject || c.Events["http://schemas.openid.net/event/backchannel-logout"] == nil || c.Nonce != nil || c.JTI == "" {
		t.Errorf("logout token sub %q (want %q), claims %+v", lt.Subject, id.Subject, c)
	}
	// Only applications the person signed in to are told, once.
	select {
	case extra := <-s.logouts:
		t.Errorf("a second logout token: %s", extra)
	case <-time.After(300 * time.Millisecond):
	}
}

// TestOIDCInstancesShareKeys: a second instance on the same store (or the
// same one restarted) publishes the keys that signed the first one's
// tokens, and accepts its access and refresh tokens.
func TestOIDCInstancesShareKeys(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	code, verifier := s.browser(t).code(portal, "P003")
	tok, _ := exchange(t, portal, code, verifier)
	raw, _ := tok.Extra("id_token").(string)

	base, _ := url.Parse(s.base)
	other := newTestApp(t, withOIDCClients(""), func(o *app.Options) { o.Store, o.BaseURL = s.st, base })
	resp := other.get(paths.OIDCKeys)
	body, _ := io.ReadAll(resp.Body)
	keySet := &staticKeys{body: body}
	v := gooidc.NewVerifier(s.base, keySet, &gooidc.Config{ClientID: "portail"})
	if _, err := v.Verify(context.Background(), raw); err != nil {
		t.Fatalf("the second instance's JWKS does not verify the first one's ID token: %v", err)
	}
	resp = other.get(paths.OIDCUserinfo, "Authorization", "Bearer "+tok.AccessToken)
	if resp.StatusCode != http.StatusOK {
		t.Errorf("userinfo on the second instance: %d", resp.StatusCode)
	}
	resp = other.postForm(paths.OIDCToken, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}, "client_id": {"portail"}})
	var refreshed struct {
		IDToken string `json:"id_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&refreshed)
	if resp.StatusCode != http.StatusOK || refreshed.IDToken == "" {
		t.Fatalf("refresh on the second instance: %d", resp.StatusCode)
	}
	// The first instance verifies what the second one signed.
	if _, err := portal.verifier.Verify(context.Background(), refreshed.IDToken); err != nil {
		t.Errorf("the first instance's JWKS does not verify the second one's ID token: %v", err)
	}
}

// staticKeys is a JWKS document fetched once, as go-oidc's KeySet.
type staticKeys struct{ body []byte }

func (k *staticKeys) VerifySignature(ctx context.Context, jwt string) ([]byte, error) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(k.body) }))
	defer srv.Close()
	return gooidc.NewRemoteKeySet(ctx, srv.URL).VerifySignature(ctx, jwt)
}

// TestOIDCEndSessionAsks: an end_session request that does not prove whose
// session it ends (no id_token_hint, or another person's) asks the person
// signed in, in their language, with a CSRF-protected form; a refused or
// edited form signs nobody out, the person's « Me déconnecter » does.
func TestOIDCEndSessionAsks(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	p := s.browser(t)
	code, verifier := p.code(portal, "P003")
	exchange(t, portal, code, verifier)
	signedIn := func() bool {
		t.Helper()
		resp, back := p.authorize(portal, oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
		resp.Body.Close()
		return back != nil
	}
	endSession := func(q url.Values, lang string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, s.base+paths.OIDCEndSession+"?"+q.Encode(), nil)
		req.Header.Set("Accept-Language", lang)
		resp, err := p.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("end_session answered %d", resp.StatusCode)
		}
		resp.Body.Close()
		req, _ = http.NewRequest(http.MethodGet, s.base+resp.Header.Get("Location"), nil)
		req.Header.Set("Accept-Language", lang)
		if resp, err = p.client.Do(req); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	noHint := url.Values{"client_id": {"portail"}, "post_logout_redirect_uri": {portalBye}, "state": {"bye-2"}}

	for _, tc := range []struct{ lang, title, lead, button string }{
		{"fr-FR", "Vous déconnecter de Sésame ?", "Portail des familles demande à vous déconnecter de Sésame.", "Me déconnecter"},
		{"en", "Sign out of Sésame?", "Family portal asks to sign you out of Sésame.", "Sign me out"},
	} {
		resp := endSession(noHint, tc.lang)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: without a hint, the step answered %d, want the question", tc.lang, resp.StatusCode)
		}
		d := doc(t, resp)
		page := d.Find(`[data-testid="oidc-end-session"]`)
		if got := page.Find("h1").Text(); got != tc.title {
			t.Errorf("%s: title %q, want %q", tc.lang, got, tc.title)
		}
		if !strings.Contains(page.Text(), tc.lead) || !strings.Contains(page.Text(), "Léo Martin") {
			t.Errorf("%s: page says %q", tc.lang, strings.Join(strings.Fields(page.Text()), " "))
		}
		if got := strings.TrimSpace(page.Find(`[data-testid="oidc-end-session-confirm"]`).Text()); got != tc.button {
			t.Errorf("%s: button %q, want %q", tc.lang, got, tc.button)
		}
		if href, _ := page.Find(`[data-testid="oidc-end-session-stay"]`).Attr("href"); href != portalBye+"?state=bye-2" {
			t.Errorf("%s: « stay signed in » goes to %q", tc.lang, href)
		}
	}
	if !signedIn() {
		t.Fatal("showing the question signed the person out")
	}

	// Another person's ID token proves nothing about this session.
	other := s.browser(t)
	code, verifier = other.code(portal, "P001")
	tok, _ := exchange(t, portal, code, verifier)
	hint, _ := tok.Extra("id_token").(string)
	if resp := endSession(url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {portalBye}}, "fr"); resp.StatusCode != http.StatusOK ||
		doc(t, resp).Find(`[data-testid="oidc-end-session"]`).Length() != 1 {
		t.Errorf("another person's hint: %d, want the question", resp.StatusCode)
	}

	form := func() (string, url.Values) {
		t.Helper()
		d := doc(t, endSession(noHint, "fr"))
		f := d.Find(`[data-testid="oidc-end-session"] form`)
		action, _ := f.Attr("action")
		v := url.Values{}
		f.Find(`input[type="hidden"]`).Each(func(_ int, in *goquery.Selection) {
			name, _ := in.Attr("name")
			val, _ := in.Attr("value")
			v.Set(name, val)
		})
		return s.base + action, v
	}
	post := func(action string, v url.Values) *http.Response {
		t.Helper()
		r, err := p.client.PostForm(action, v)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		return r
	}
	action, v := form()
	if v.Get(csrfField) == "" || v.Get("sig") == "" || v.Get("to") == "" {
		t.Fatalf("the form carries %v", v)
	}
	noToken := url.Values{}
	for k := range v {
		if k != csrfField {
			noToken.Set(k, v.Get(k))
		}
	}
	if r := post(action, noToken); r.StatusCode != http.StatusForbidden {
		t.Errorf("without the CSRF token: %d, want 403", r.StatusCode)
	}
	edited := url.Values{}
	for k := range v {
		edited.Set(k, v.Get(k))
	}
	edited.Set("to", "https://attacker.example/")
	if r := post(action, edited); r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Errorf("an edited destination: %d to %q, want 400 and no redirect", r.StatusCode, r.Header.Get("Location"))
	}
	if !signedIn() {
		t.Fatal("a refused form signed the person out")
	}
	action, v = form()
	r := post(action, v)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != portalBye+"?state=bye-2" {
		t.Errorf("« Me déconnecter »: %d to %q", r.StatusCode, r.Header.Get("Location"))
	}
	if signedIn() {
		t.Error("still signed in after « Me déconnecter »")
	}
	// Signed out already: nothing to ask, straight on.
	if resp, back := p.follow(s.base + paths.OIDCEndSession + "?" + noHint.Encode()); back == nil || back.String() != portalBye+"?state=bye-2" {
		t.Errorf("signed out: stopped at %d", resp.StatusCode)
	}
}

// TestOIDCIntrospect: a confidential client introspects its access token
// (RFC 7662): active, with the token's sub, client and scopes; inactive
// once revoked, and for a token issued to another client; a wrong secret
// learns nothing.
func TestOIDCIntrospect(t *testing.T) {
	s := newOIDCServer(t)
	p := s.browser(t)
	cdi := s.cdi(oauth2.AuthStyleInHeader)
	tok, id := exchange(t, cdi, p.codeNoPKCE(cdi), "")
	type answer struct {
		Active   bool   `json:"active"`
		Sub      string `json:"sub"`
		ClientID string `json:"client_id"`
		Scope    string `json:"scope"`
		Exp      int64  `json:"exp"`
	}
	call := func(path, token, secret string) (int, answer) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("cdi", secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var a answer
		if path == paths.OIDCIntrospect && resp.StatusCode == http.StatusOK {
			if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, a
	}

	st, a := call(paths.OIDCIntrospect, tok.AccessToken, cdiSecret)
	if st != http.StatusOK || !a.Active || a.Sub != id.Subject || a.ClientID != "cdi" || a.Scope != "openid profile" ||
		time.Until(time.Unix(a.Exp, 0)) <= 0 {
		t.Errorf("live token: %d %+v, want active, sub %q, client cdi, scope \"openid profile\"", st, a, id.Subject)
	}
	if st, a := call(paths.OIDCIntrospect, tok.AccessToken, "wrong-secret"); st == http.StatusOK || a.Active {
		t.Errorf("a wrong secret: %d %+v, want a refusal", st, a)
	}
	// The portal's token is not the library's to look into.
	portal := s.portal()
	code, verifier := s.browser(t).code(portal, "P001")
	other, _ := exchange(t, portal, code, verifier)
	if st, a := call(paths.OIDCIntrospect, other.AccessToken, cdiSecret); st != http.StatusOK || a.Active {
		t.Errorf("another client's token: %d %+v, want inactive", st, a)
	}

	if st, _ := call(paths.OIDCRevoke, tok.AccessToken, cdiSecret); st != http.StatusOK {
		t.Fatalf("revocation: %d", st)
	}
	if st, a := call(paths.OIDCIntrospect, tok.AccessToken, cdiSecret); st != http.StatusOK || a.Active || a.Sub != "" {
		t.Errorf("revoked token: %d %+v, want inactive and nothing else", st, a)
	}
}

// TestOIDCEmailVerified: email_verified says whether the person confirmed
// the address themselves (a link they opened), not whether the school
// typed one in: an application may then trust it for its own accounts.
func TestOIDCEmailVerified(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	verified := func(identifier string) any {
		t.Helper()
		code, verifier := s.browser(t).code(portal, identifier)
		_, id := exchange(t, portal, code, verifier)
		var c map[string]any
		if err := id.Claims(&c); err != nil {
			t.Fatal(err)
		}
		return c["email_verified"]
	}
	// zitadel/oidc leaves a false email_verified out; applications read
	// an absent one as false.
	if v := verified("P003"); v != nil && v != false {
		t.Errorf("an address from the school's import: email_verified = %v, want false or absent", v)
	}
	// P001 confirms a new address from the personal page.
	b := s.testApp.browser()
	b.signIn("P001", annePassword)
	confirm, _ := b.requestEmailChange(t, "anne.nouvelle@example.net", anneMail, 1)
	s.testApp.submitLink(t, confirm)
	if v := verified("P001"); v != true {
		t.Errorf("an address its owner confirmed: email_verified = %v, want true", v)
	}
}

// TestOIDCMaxAge: an application's max_age asks for a sign-in when the
// person's last one is older; a recent one passes straight through.
func TestOIDCMaxAge(t *testing.T) {
	s := newOIDCServer(t)
	portal := s.portal()
	pkce := oauth2.S256ChallengeOption(oauth2.GenerateVerifier())
	p := s.browser(t)
	p.code(portal, "P003")
	maxAge := oauth2.SetAuthURLParam("max_age", "600")
	if _, back := p.authorize(portal, pkce, maxAge); back == nil || back.Query().Get("code") == "" {
		t.Fatalf("a sign-in a moment old was asked again: %v", back)
	}
	s.advance(11 * time.Minute)
	resp, back := p.authorize(portal, pkce, maxAge)
	if back != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a sign-in 11 minutes old passed max_age=600: %v", back)
	}
	if _, back := p.signIn(resp, "P003"); back == nil || back.Query().Get("code") == "" {
		t.Errorf("after signing in again: %v", back)
	}
	// Without max_age, the same session passes through.
	if _, back := p.authorize(portal, pkce); back == nil || back.Query().Get("code") == "" {
		t.Errorf("without max_age: %v", back)
	}
}

// TestOIDCBackchannelLogoutOnReset: a password reset ends the person's
// sessions, and the applications they signed in to are told too — whoever
// had the old password is signed out there as well.
func TestOIDCBackchannelLogoutOnReset(t *testing.T) {
	s := newOIDCServer(t)
	cdi := s.cdi(oauth2.AuthStyleInHeader)
	_, id := exchange(t, cdi, s.browser(t).codeNoPKCE(cdi), "")
	owner := s.testApp.browser()
	owner.toStep3(t, 1)
	const pw = "Trois chats sur le toit 42"
	if _, html := owner.step(paths.RecoveryPassword, url.Values{"password": {pw}, "confirm": {pw}}); !strings.Contains(html, "Votre mot de passe a été modifié") {
		t.Fatalf("reset: %s", html)
	}
	select {
	case raw := <-s.logouts:
		lt, err := s.provider.Verifier(&gooidc.Config{ClientID: "cdi"}).Verify(context.Background(), raw)
		if err != nil || lt.Subject != id.Subject {
			t.Fatalf("logout token after the reset: %v, sub %v (want %q)", err, lt, id.Subject)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no logout token after the password reset")
	}
}

// TestOIDCDiscovery: the discovery document lists what Sésame serves and
// nothing else (an application that reads it to choose a flow must not
// pick the implicit flow, the JWT bearer grant or a device endpoint, all
// refused or not routed), and every endpoint it lists answers.
func TestOIDCDiscovery(t *testing.T) {
	s := newOIDCServer(t)
	resp, err := http.Get(s.base + paths.OIDCDiscovery)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil {
		t.Fatalf("status %d: %v", resp.StatusCode, err)
	}
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Fatalf("status %d, %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for key, want := range map[string]any{
		"issuer":                                s.base,
		"grant_types_supported":                 []any{"authorization_code", "refresh_token"},
		"response_types_supported":              []any{"code"},
		"code_challenge_methods_supported":      []any{"S256"},
		"scopes_supported":                      []any{"openid", "profile", "email", "groups", "offline_access"},
		"backchannel_logout_supported":          true,
		"token_endpoint_auth_methods_supported": []any{"none", "client_secret_basic", "client_secret_post"},
	} {
		if got := doc[key]; !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %v, want %v", key, got, want)
		}
	}
	if ep, ok := doc["device_authorization_endpoint"]; ok {
		t.Errorf("a device authorization endpoint is listed: %v", ep)
	}
	// Every listed endpoint is routed: none answers 404.
	for key, v := range doc {
		u, ok := v.(string)
		if !ok || !strings.HasSuffix(key, "_endpoint") && key != "jwks_uri" {
			continue
		}
		r, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == http.StatusNotFound {
			t.Errorf("%s (%s) answers 404", key, u)
		}
	}
}
