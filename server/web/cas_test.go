package web_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/cas"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

const (
	pronoteService = "https://pronote.sesame.test/pronote/parent.html?fd=1"
	cdiService     = "https://cdi.sesame.test/login"
)

// withCAS declares the tests' CAS services: Pronote for parents and
// students, the library's catalogue (default profile) for everyone, and
// any extra ones; and forward-auth for the catalogue's host.
func withCAS(extra ...clients.Client) func(*app.Options) {
	return func(o *app.Options) {
		sc := *o.School
		sc.Clients = append([]clients.Client{
			{ID: "pronote", Name: map[string]string{"fr": "Pronote", "en": "Pronote"}, Protocol: clients.CAS,
				Service: "https://pronote.sesame.test/*", Attributes: clients.ProfilePronote, Populations: []string{"parents", "students"}},
			{ID: "cdi", Name: map[string]string{"fr": "Catalogue du CDI", "en": "Library catalogue"}, Protocol: clients.CAS,
				Service: cdiService},
			{ID: "eleves", Name: map[string]string{"fr": "Espace élèves", "en": "Students' space"}, Protocol: clients.CAS,
				Service: "https://eleves.sesame.test/*", Populations: []string{"students"}},
		}, extra...)
		sc.ForwardAuth = clients.ForwardAuth{CookieDomain: "sesame.test", Hosts: []string{"cdi.sesame.test"}}
		o.School = &sc
		o.CASLogout = cas.SenderOptions{Poll: 50 * time.Millisecond, FirstRetry: 100 * time.Millisecond, MaxRetry: 200 * time.Millisecond}
	}
}

func casLoginURL(service string, extra ...string) string {
	q := url.Values{"service": {service}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	return paths.CASLogin + "?" + q.Encode()
}

// casTicket asks /cas/login for a ticket for service, as a signed-in
// browser does, and returns it.
func (a *testApp) casTicket(service string) string {
	a.t.Helper()
	resp := a.get(casLoginURL(service))
	loc := resp.Header.Get("Location")
	prefix := service + "&ticket="
	if !strings.Contains(service, "?") {
		prefix = service + "?ticket="
	}
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		a.t.Fatalf("/cas/login: %d %q, want a redirect to %s…", resp.StatusCode, loc, prefix)
	}
	return strings.TrimPrefix(loc, prefix)
}

// casValidate calls a validation endpoint as an application does: from
// its own server, without the browser's cookies.
func (a *testApp) casValidate(path, ticket, service string, extra ...string) string {
	a.t.Helper()
	q := url.Values{"ticket": {ticket}, "service": {service}}
	for i := 0; i+1 < len(extra); i += 2 {
		q.Set(extra[i], extra[i+1])
	}
	resp, err := a.app.Test(httptest.NewRequest(http.MethodGet, path+"?"+q.Encode(), nil), -1)
	if err != nil {
		a.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		a.t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
	}
	return string(b)
}

var authDateRE = regexp.MustCompile(`<cas:authenticationDate>[^<]*</cas:authenticationDate>`)

// casGolden compares a validation answer with the cas package's golden
// file, the authentication date aside (the golden one is fixed).
func casGolden(t *testing.T, got, file string) {
	t.Helper()
	want, err := os.ReadFile("../cas/testdata/" + file)
	if err != nil {
		t.Fatal(err)
	}
	norm := func(s string) string { return authDateRE.ReplaceAllString(s, "<cas:authenticationDate/>") }
	if norm(got) != norm(string(want)) {
		t.Errorf("answer differs from %s:\n--- got\n%s\n--- want\n%s", file, got, want)
	}
	if authDateRE.Match(want) && !authDateRE.MatchString(got) {
		t.Errorf("no authenticationDate in %s", got)
	}
}

// seedGolden gives P001 the name of the golden files' person.
func (a *testApp) seedGolden() {
	a.t.Helper()
	_, err := a.st.DB().Collection("accounts").UpdateOne(context.Background(), bson.D{{Key: "_id", Value: "p001"}},
		bson.D{{Key: "$set", Value: bson.D{{Key: "lastName", Value: "Durand <& Fils>"}}}})
	if err != nil {
		a.t.Fatal(err)
	}
}

// TestCASLoginRoundTrip: an application's login sends a signed-out person
// to Sésame's sign-in page, titled with its name; once signed in they land
// back in the application with a ticket that validates, with the profile's
// attributes.
func TestCASLoginRoundTrip(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	a.seedGolden()
	tests := []struct {
		service, golden string
	}{
		{pronoteService, "success_pronote.xml"},
		{cdiService, "success_default.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			b := a.browser()
			resp := b.get(casLoginURL(tt.service))
			loc := resp.Header.Get("Location")
			if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, paths.Login+"?") {
				t.Fatalf("signed out: %d %q, want the sign-in page", resp.StatusCode, loc)
			}
			if h := strings.TrimSpace(doc(t, b.get(loc)).Find("h1").First().Text()); !strings.HasPrefix(h, "Connexion à ") {
				t.Errorf("sign-in heading %q", h)
			}
			back := b.signIn("P001", annePassword).Header.Get("Location")
			if !strings.HasPrefix(back, paths.CASLogin+"?") {
				t.Fatalf("after sign-in: %q, want /cas/login", back)
			}
			resp = b.get(back)
			loc = resp.Header.Get("Location")
			ticket := loc[strings.LastIndex(loc, "ticket=")+len("ticket="):]
			if !strings.HasPrefix(ticket, "ST-") || len(ticket) > 32 {
				t.Fatalf("redirect %q: ticket %q, want ST-… of at most 32 characters", loc, ticket)
			}
			if got := resp.Header.Get("Referrer-Policy"); got != "no-referrer" {
				t.Errorf("Referrer-Policy %q", got)
			}
			casGolden(t, a.casValidate(paths.CASP3ServiceValidate, ticket, tt.service), tt.golden)
			// Signed in now: the next ticket comes at once (single sign-on)
			// and validates at the CAS 2.0 endpoint too.
			next := b.casTicket(tt.service)
			got := a.casValidate(paths.CASServiceValidate, next, tt.service)
			if !strings.Contains(got, "<cas:isFromNewLogin>false</cas:isFromNewLogin>") || !strings.Contains(got, "<cas:user>P001</cas:user>") {
				t.Errorf("single sign-on ticket: %s", got)
			}
		})
	}
}

// TestCASLoginRefusals: no ticket for a service the school did not
// declare, nor for a population the application does not admit; gateway
// goes back without one; renew asks for the password again.
func TestCASLoginRefusals(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()

	t.Run("unknown service", func(t *testing.T) {
		for _, service := range []string{"https://attacker.example/", "https://pronote.sesame.test.attacker.example/", "https://eleves.sesame.test"} {
			for _, lang := range []string{"fr", "en"} {
				resp := a.get(casLoginURL(service), "Accept-Language", lang)
				if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
					t.Fatalf("%s: %d %q, want 400 and no redirect", service, resp.StatusCode, resp.Header.Get("Location"))
				}
				want := map[string]string{"fr": "Application inconnue", "en": "Unknown application"}[lang]
				if h := strings.TrimSpace(doc(t, resp).Find("h1").First().Text()); h != want {
					t.Errorf("%s (%s): heading %q, want %q", service, lang, h, want)
				}
			}
		}
	})

	b := a.browser()
	t.Run("gateway without a session", func(t *testing.T) {
		resp := b.get(casLoginURL(pronoteService, "gateway", "true"))
		if loc := resp.Header.Get("Location"); loc != pronoteService {
			t.Errorf("gateway: %d %q, want the service without a ticket", resp.StatusCode, loc)
		}
	})

	b.signIn("P003", annePassword)
	t.Run("population not admitted", func(t *testing.T) {
		resp := b.get(casLoginURL("https://eleves.sesame.test/"))
		if resp.StatusCode != http.StatusForbidden || strings.Contains(resp.Header.Get("Location"), "ticket") {
			t.Fatalf("parent at the students' space: %d %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		if n, _ := a.st.DB().Collection("cas_tickets").CountDocuments(context.Background(), bson.D{}); n != 0 {
			t.Errorf("%d tickets stored", n)
		}
	})

	t.Run("renew asks for the password", func(t *testing.T) {
		resp := b.get(casLoginURL(pronoteService, "renew", "true"))
		loc, _ := url.Parse(resp.Header.Get("Location"))
		if resp.StatusCode != http.StatusSeeOther || loc.Path != paths.Login || loc.Query().Get("force") != "1" {
			t.Fatalf("renew: %d %q, want the sign-in form", resp.StatusCode, loc)
		}
		// A ticket from the existing session does not pass a renew
		// validation…
		old := b.casTicket(pronoteService)
		if got := a.casValidate(paths.CASP3ServiceValidate, old, pronoteService, "renew", "true"); !strings.Contains(got, `code="INVALID_TICKET"`) {
			t.Errorf("renew validation of an SSO ticket: %s", got)
		}
		// …the one after the password typed again does.
		b.get(loc.String())
		back := b.signIn("P003", annePassword).Header.Get("Location")
		resp = b.get(back)
		ticket := strings.TrimPrefix(resp.Header.Get("Location"), pronoteService+"&ticket=")
		if got := a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService, "renew", "true"); !strings.Contains(got, "<cas:isFromNewLogin>true</cas:isFromNewLogin>") {
			t.Errorf("renewed ticket: %s", got)
		}
	})
}

// TestCASValidate: a ticket works once, for its own service, for five
// minutes; every refusal has the protocol's code.
func TestCASValidate(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	b := a.browser()
	b.signIn("P001", annePassword)

	t.Run("second time INVALID_TICKET", func(t *testing.T) {
		ticket := b.casTicket(pronoteService)
		if got := a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService); !strings.Contains(got, "authenticationSuccess") {
			t.Fatalf("first: %s", got)
		}
		casGolden(t, a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService), "failure_invalid_ticket.xml")
	})
	t.Run("another service INVALID_SERVICE, and the ticket is spent", func(t *testing.T) {
		ticket := b.casTicket(pronoteService)
		casGolden(t, a.casValidate(paths.CASP3ServiceValidate, ticket, "https://pronote.sesame.test/pronote/eleve.html"), "failure_invalid_service.xml")
		casGolden(t, a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService), "failure_invalid_ticket.xml")
	})
	t.Run("expired after five minutes", func(t *testing.T) {
		ticket := b.casTicket(pronoteService)
		a.advance(cas.TicketTTL)
		defer a.advance(-cas.TicketTTL)
		casGolden(t, a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService), "failure_invalid_ticket.xml")
	})
	t.Run("just before five minutes", func(t *testing.T) {
		ticket := b.casTicket(pronoteService)
		a.advance(cas.TicketTTL - 2*time.Second)
		defer a.advance(-cas.TicketTTL + 2*time.Second)
		if got := a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService); !strings.Contains(got, "authenticationSuccess") {
			t.Errorf("at 4:58: %s", got)
		}
	})
	t.Run("INVALID_REQUEST and unknown tickets", func(t *testing.T) {
		for _, tt := range []struct{ ticket, service, code string }{
			{"", pronoteService, "INVALID_REQUEST"},
			{"ST-x", "", "INVALID_REQUEST"},
			{"ST-unknown", pronoteService, "INVALID_TICKET"},
			{"PT-proxy", pronoteService, "INVALID_TICKET"},
		} {
			if got := a.casValidate(paths.CASServiceValidate, tt.ticket, tt.service); !strings.Contains(got, `code="`+tt.code+`"`) {
				t.Errorf("ticket %q service %q: %s, want %s", tt.ticket, tt.service, got, tt.code)
			}
		}
	})
	t.Run("CAS 1.0", func(t *testing.T) {
		ticket := b.casTicket(cdiService)
		if got := a.casValidate(paths.CASValidate, ticket, cdiService); got != "yes\nP001\n" {
			t.Errorf("first: %q", got)
		}
		if got := a.casValidate(paths.CASValidate, ticket, cdiService); got != "no\n\n" {
			t.Errorf("second: %q", got)
		}
	})
	t.Run("audited, without the ticket", func(t *testing.T) {
		ctx := context.Background()
		cur, err := a.st.DB().Collection("audit").Find(ctx, bson.D{{Key: "action", Value: bson.D{{Key: "$in", Value: bson.A{"cas.ticket", "cas.validate"}}}}})
		if err != nil {
			t.Fatal(err)
		}
		var events []bson.M
		if err := cur.All(ctx, &events); err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, e := range events {
			seen[e["action"].(string)+"/"+e["outcome"].(string)] = true
			if e["action"] == "cas.ticket" && (e["client"] != "pronote" && e["client"] != "cdi" || e["accountId"] != "p001" || e["ip"] != "203.0.113.7") {
				t.Errorf("issue event %v", e)
			}
			for _, v := range e {
				if s, ok := v.(string); ok && strings.HasPrefix(s, "ST-") {
					t.Errorf("a ticket in the audit log: %v", e)
				}
			}
		}
		for _, want := range []string{"cas.ticket/issued", "cas.validate/ok", "cas.validate/invalid_ticket", "cas.validate/invalid_service", "cas.validate/expired"} {
			if !seen[want] {
				t.Errorf("no %s event (have %v)", want, seen)
			}
		}
	})
	t.Run("only hashes stored", func(t *testing.T) {
		ticket := b.casTicket(pronoteService)
		n, err := a.st.DB().Collection("cas_tickets").CountDocuments(context.Background(), bson.D{{Key: "_id", Value: ticket}})
		if err != nil || n != 0 {
			t.Errorf("the ticket itself is a stored _id (%d, %v)", n, err)
		}
	})
}

// TestCASConcurrentValidation: many validations of one ticket at once,
// exactly one succeeds.
func TestCASConcurrentValidation(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	b := a.browser()
	b.signIn("P001", annePassword)
	for round := range 3 {
		ticket := b.casTicket(pronoteService)
		var mu sync.Mutex
		wins := 0
		storetest.Race(12, func(int) {
			got := a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService)
			if strings.Contains(got, "authenticationSuccess") {
				mu.Lock()
				wins++
				mu.Unlock()
			}
		})
		if wins != 1 {
			t.Fatalf("round %d: %d validations succeeded, want exactly 1", round, wins)
		}
	}
}

// TestCASTwoInstances: a ticket issued by one instance validates at the
// other, once.
func TestCASTwoInstances(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	other := newTestAppOn(t, a.st, withCAS())
	b := a.browser()
	b.signIn("P001", annePassword)
	ticket := b.casTicket(pronoteService)
	if got := other.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService); !strings.Contains(got, "<cas:user>P001</cas:user>") {
		t.Fatalf("other instance: %s", got)
	}
	if got := a.casValidate(paths.CASP3ServiceValidate, ticket, pronoteService); !strings.Contains(got, "INVALID_TICKET") {
		t.Errorf("first instance after the other: %s", got)
	}
	// And the other way round.
	ob := other.browser()
	ob.signIn("P003", annePassword)
	ticket = ob.casTicket(cdiService)
	if got := a.casValidate(paths.CASP3ServiceValidate, ticket, cdiService); !strings.Contains(got, "<cas:user>P003</cas:user>") {
		t.Errorf("first instance: %s", got)
	}
}

// sloService is a CAS application that records the LogoutRequests it is
// sent, and is down for its first failures answers.
type sloService struct {
	mu       sync.Mutex
	failures int
	got      []string
	srv      *httptest.Server
}

func newSLOService(t *testing.T, failures int) *sloService {
	s := &sloService{failures: failures}
	s.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.failures > 0 {
			s.failures--
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if r.Method == http.MethodPost && r.ParseForm() == nil {
			s.got = append(s.got, r.PostForm.Get("logoutRequest"))
		}
	}))
	t.Cleanup(s.srv.Close)
	return s
}

func (s *sloService) wait(t *testing.T, n int) []string {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		s.mu.Lock()
		got := append([]string(nil), s.got...)
		s.mu.Unlock()
		if len(got) >= n {
			return got
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the service received %d LogoutRequests in 5 s, want %d", len(s.got), n)
	return nil
}

// TestCASSingleLogout: signing out of Sésame sends the protocol's
// LogoutRequest, naming the ticket, to a service that asked for it — even
// one that was down at the time.
func TestCASSingleLogout(t *testing.T) {
	svc := newSLOService(t, 2)
	service := svc.srv.URL + "/app/"
	a := newTestApp(t, withCAS(clients.Client{ID: "ent", Name: map[string]string{"fr": "ENT"}, Protocol: clients.CAS,
		Service: svc.srv.URL + "/app/*", SingleLogout: true}))
	a.seed()
	b := a.browser()
	b.signIn("P001", annePassword)
	ticket := b.casTicket(service)
	if got := a.casValidate(paths.CASServiceValidate, ticket, service); !strings.Contains(got, "authenticationSuccess") {
		t.Fatalf("validate: %s", got)
	}
	// Pronote did not ask for single logout: it is not told.
	b.casTicket(pronoteService)
	resp := b.postForm(paths.Logout, url.Values{csrfField: {b.csrfToken(paths.Account)}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("sign-out: %d", resp.StatusCode)
	}
	got := svc.wait(t, 1)
	if len(got) != 1 || !strings.Contains(got[0], "<samlp:SessionIndex>"+ticket+"</samlp:SessionIndex>") || !strings.HasPrefix(got[0], "<samlp:LogoutRequest ") {
		t.Fatalf("LogoutRequests = %q", got)
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(svc.wait(t, 1)); n != 1 {
		t.Errorf("%d LogoutRequests, want 1", n)
	}
	if n, _ := a.st.DB().Collection("cas_logouts").CountDocuments(context.Background(), bson.D{}); n != 0 {
		t.Errorf("%d requests left in the queue", n)
	}
}

// TestCASLogout: /cas/logout ends the session, and returns only to a
// service of the school's file.
func TestCASLogout(t *testing.T) {
	a := newTestApp(t, withCAS())
	a.seed()
	for _, tt := range []struct{ service, want string }{
		{"", "/?signed_out=1"},
		{pronoteService, pronoteService},
		{"https://attacker.example/", "/?signed_out=1"},
	} {
		b := a.browser()
		b.signIn("P001", annePassword)
		q := ""
		if tt.service != "" {
			q = "?service=" + url.QueryEscape(tt.service)
		}
		if got := b.get(paths.CASLogout + q).Header.Get("Location"); got != tt.want {
			t.Errorf("service %q: went to %q, want %q", tt.service, got, tt.want)
		}
		if got := b.get(paths.Account).StatusCode; got == http.StatusOK {
			t.Errorf("service %q: still signed in", tt.service)
		}
	}
}

// TestFormActionListsApplications: browsers hold the sign-in form's
// redirects to form-action, so the policy lists the school's applications'
// origins — and nothing else — or the person would never get back to them.
func TestFormActionListsApplications(t *testing.T) {
	a := newTestApp(t, withCAS())
	csp := a.get(paths.Login).Header.Get("Content-Security-Policy")
	var formAction string
	for _, d := range strings.Split(csp, ";") {
		if f := strings.Fields(d); len(f) > 0 && f[0] == "form-action" {
			formAction = strings.Join(f[1:], " ")
		}
	}
	want := "'self' https://pronote.sesame.test https://cdi.sesame.test https://eleves.sesame.test http://cdi.sesame.test"
	if formAction != want {
		t.Errorf("form-action %q, want %q", formAction, want)
	}
}
