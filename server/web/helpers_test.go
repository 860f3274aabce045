package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/mail/mailtest"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
	"github.com/sesame-edu/sesame/server/web"
)

// switchPinger lets a test take the database "down".
type switchPinger struct {
	inner web.Pinger
	down  atomic.Bool
}

func (p *switchPinger) Ping(ctx context.Context) error {
	if p.down.Load() {
		return errors.New("down")
	}
	return p.inner.Ping(ctx)
}

type testApp struct {
	t      *testing.T
	app    *fiber.App
	store  *switchPinger
	st     *store.Store
	smtp   *mailtest.Server
	rec    *recovery.Service
	prof   *account.Profile
	hasher *account.Hasher
	jar    map[string]string
	ip     string
	skew   *atomic.Int64 // nanoseconds added to the clock of the flows
}

// csrfField is the name of the form token's field (web's csrfField).
const csrfField = "_csrf"

// setIP makes the request come from the browser's address. Fiber's Test
// gives every request the address 0.0.0.0, so the tests' server trusts it
// as a proxy and the address travels in X-Forwarded-For.
func (a *testApp) setIP(req *http.Request) {
	if a.ip != "" && req.Header.Get("X-Forwarded-For") == "" {
		req.Header.Set("X-Forwarded-For", a.ip)
	}
}

// profile is the personal page's domain service, for tests of its races.
func (a *testApp) profile() *account.Profile { return a.prof }

// advance moves the clock of flows, codes and limits forward.
func (a *testApp) advance(d time.Duration) { a.skew.Add(int64(d)) }

// browser returns a second browser (its own cookies) on the same server.
func (a *testApp) browser() *testApp {
	b := *a
	b.jar = map[string]string{}
	return &b
}

// catalog is the message catalogues, read once for every application the
// tests start (a Catalog is read-only once loaded).
var catalog = sync.OnceValues(i18n.New)

// newTestApp wires the application with app.New, as main does, on the
// embedded store and a real SMTP server, with the test knobs: a clock the
// test moves, a cheap hash, no refusal floor, a fast mail worker. opts may
// change any option (a fixed clock, trusted proxies, a web dependency).
func newTestApp(t *testing.T, opts ...func(*app.Options)) *testApp {
	t.Helper()
	return startTestApp(t, true, opts...)
}

// newTestAppOn is newTestApp on a given store: a second instance of the
// application sharing the first one's database.
func newTestAppOn(t *testing.T, st *store.Store, opts ...func(*app.Options)) *testApp {
	t.Helper()
	return startTestAppOn(t, st, true, opts...)
}

// startTestApp is newTestApp; without background, the mail worker, the
// recovery dispatcher and the sweeper do not run, so that the store sees
// only what requests do.
func startTestApp(t *testing.T, background bool, opts ...func(*app.Options)) *testApp {
	t.Helper()
	return startTestAppOn(t, storetest.New(t), background, opts...)
}

func startTestAppOn(t *testing.T, st *store.Store, background bool, opts ...func(*app.Options)) *testApp {
	t.Helper()
	skew := &atomic.Int64{}
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	st.SetClock(clock)
	sp := &switchPinger{inner: st}
	base, _ := url.Parse("http://sesame.test")
	smtpSrv := mailtest.Start(t)
	sender, err := mail.NewSMTPSender(smtpSrv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	from, _ := netmail.ParseAddress("Sésame <noreply@sesame.test>")
	cat, err := catalog()
	if err != nil {
		t.Fatal(err)
	}
	o := app.Options{
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Store: st, StoreKind: "embedded",
		School: testSchool(t), Secret: []byte("test-secret-test-secret-test-secret"),
		BaseURL: base, MailFrom: from, Sender: sender, Location: paris(t),
		// Fiber's Test gives every request the address 0.0.0.0: trusted as
		// a proxy, it lets each browser's address travel in X-Forwarded-For.
		TrustedProxies: []string{"0.0.0.0"},
		Dist:           os.DirFS("../../frontend/dist"),
		Now:            clock,
		Hash:           account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32},
		FailureFloor:   -1,
		Worker:         mail.WorkerOptions{Poll: 50 * time.Millisecond, FirstRetry: 100 * time.Millisecond, MaxRetry: 200 * time.Millisecond},
		Catalog:        cat,
	}
	for _, opt := range opts {
		opt(&o)
	}
	prev := o.Web
	o.Web = func(d *web.Deps) {
		d.Store = sp
		if prev != nil {
			prev(d)
		}
	}
	a, err := app.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if background {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { a.Run(ctx); close(done) }()
		t.Cleanup(func() { cancel(); <-done })
	}
	return &testApp{t: t, app: a.HTTP, hasher: a.Hasher, store: sp, st: st, smtp: smtpSrv, rec: a.Recovery, prof: a.Profile, jar: map[string]string{}, ip: "203.0.113.7", skew: skew}
}

// do sends a request with the jar's cookies and keeps the ones set.
func (a *testApp) do(req *http.Request) *http.Response {
	a.t.Helper()
	for k, v := range a.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	a.setIP(req)
	resp, err := a.app.Test(req, -1)
	if err != nil {
		a.t.Fatal(err)
	}
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			delete(a.jar, c.Name)
		} else {
			a.jar[c.Name] = c.Value
		}
	}
	return resp
}

// follow follows a 303 See Other to a local page, as a browser does after a
// full-page POST (POST/Redirect/GET), and returns the page.
func (a *testApp) follow(resp *http.Response) *http.Response {
	a.t.Helper()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/") || strings.HasPrefix(loc, "//") {
		return resp
	}
	resp.Body.Close()
	return a.get(loc)
}

func (a *testApp) get(path string, headers ...string) *http.Response {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return a.do(req)
}

func (a *testApp) postForm(path string, form url.Values, headers ...string) *http.Response {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return a.do(req)
}

func doc(t *testing.T, resp *http.Response) *goquery.Document {
	t.Helper()
	defer resp.Body.Close()
	d, err := goquery.NewDocumentFromReader(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// csrfToken loads a page and returns the form token it carries.
func (a *testApp) csrfToken(path string) string {
	a.t.Helper()
	d := doc(a.t, a.get(path))
	tok, ok := d.Find(`input[name="_csrf"]`).First().Attr("value")
	if !ok && path == "/" {
		// Signed in, the login page redirects; the personal page has forms.
		d = doc(a.t, a.get(paths.Account))
		tok, ok = d.Find(`input[name="_csrf"]`).First().Attr("value")
	}
	if !ok || tok == "" {
		a.t.Fatalf("%s has no CSRF token", path)
	}
	return tok
}

// testSchool is the example configuration with a recognisable colour.
func testSchool(t *testing.T) *school.Config {
	t.Helper()
	sc, err := school.Load("../../config.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	sc.School.PrimaryColor = "#0b6e4f"
	return sc
}

func paris(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// at fixes the clock of the app's pages (office hours, deadlines).
func at(tm time.Time) func(*app.Options) {
	return func(o *app.Options) {
		prev := o.Web
		o.Web = func(d *web.Deps) {
			d.Now = func() time.Time { return tm }
			if prev != nil {
				prev(d)
			}
		}
	}
}
