package web

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
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/activation"
	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/mail/mailtest"
	"github.com/sesame-edu/sesame/server/notify"
	"github.com/sesame-edu/sesame/server/ratelimit"
	"github.com/sesame-edu/sesame/server/recovery"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/session"
	"github.com/sesame-edu/sesame/server/store"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// switchPinger lets a test take the database "down".
type switchPinger struct {
	inner Pinger
	down  atomic.Bool
}

func (p *switchPinger) Ping(ctx context.Context) error {
	if p.down.Load() {
		return errors.New("down")
	}
	return p.inner.Ping(ctx)
}

type testApp struct {
	t     *testing.T
	app   *fiber.App
	store *switchPinger
	st    *store.Store
	smtp  *mailtest.Server
	rec   *recovery.Service
	prof  *account.Profile
	jar   map[string]string
	ip    string
	skew  *atomic.Int64 // nanoseconds added to the clock of the flows
}

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

func newTestApp(t *testing.T, opts ...func(*Deps)) *testApp {
	t.Helper()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	st := storetest.New(t)
	skew := &atomic.Int64{}
	clock := func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	st.SetClock(clock)
	sp := &switchPinger{inner: st}
	base, _ := url.Parse("http://sesame.test")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sc := testSchool(t)
	smtpSrv := mailtest.Start(t)
	sender, err := mail.NewSMTPSender(smtpSrv.URL, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("test-secret-test-secret-test-secret")
	from, _ := netmail.ParseAddress("Sésame <noreply@sesame.test>")
	worker := mail.NewWorker(st, sender, secret, from, log, mail.WorkerOptions{Poll: 50 * time.Millisecond, FirstRetry: 100 * time.Millisecond, MaxRetry: 200 * time.Millisecond})
	outbox := mail.NewOutbox(st, secret, time.Now, worker.Notify)
	limiter := ratelimit.New(st, clock)
	notifier := notify.New(outbox, cat, sc.School.Name, paris(t))
	hasher := account.NewHasher(account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, 2)
	perKey := ratelimit.NewThrottle(st, 5, 30*time.Second, 15*time.Minute, clock)
	perIP := ratelimit.NewThrottle(st, 50, 30*time.Second, 15*time.Minute, clock)
	guard := account.NewGuard(perKey, ratelimit.NewThrottle(st, 20, 30*time.Second, 15*time.Minute, clock), perIP, []byte("signin-key-signin-key-signin-key"))
	auth := account.NewAuthenticator(st, hasher, guard, st, clock, st.UpdatePasswordHash)
	rec := recovery.New(recovery.Deps{
		Store: st, Accounts: st, Sessions: st, Audit: st, Limiter: limiter,
		Notifier: notifier, Throttles: guard,
		Hasher: hasher,
		Key:    []byte("recovery-key-recovery-key-recove"), Policy: sc.PolicyOf, Log: log, Now: clock,
		SinglePopulation: !sc.NeedsChooser(),
	}, recovery.Config{CodeTTL: 15 * time.Minute, FlowTTL: time.Hour, MaxAttempts: 5, ResendCooldown: time.Minute, CodesPerHour: 5, BaseURL: base})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = worker.Run(ctx); done <- struct{}{} }()
	go func() { rec.Run(ctx, 2); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	d := Deps{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Catalog: cat, Dist: os.DirFS("../../frontend/dist"), Store: sp, StoreKind: "embedded",
		Secret: []byte("test-secret-test-secret-test-secret"), BaseURL: base,
		TrustedProxies: []string{"0.0.0.0"},
		School:         sc, Location: paris(t), Recovery: rec, Limiter: limiter,
		Activation: activation.New(activation.Deps{
			Store: st, Hasher: hasher, Notifier: notifier, Audit: st,
			Guard: guard, Limiter: limiter,
			Population: sc.ActivationPopulation, Charter: func() string { return sc.Charter.Version },
			Key: []byte("activation-key-activation-key-ac"), BaseURL: base, Location: paris(t), Now: clock, Log: log,
		}),
		Sessions: session.New(st, 30*time.Minute, 12*time.Hour, clock),
		Auth:     auth,
		Accounts: st, EmailChanges: st, ProfileStore: st,
		Profile: account.NewProfile(st, hasher, auth, st, notifier, sc.PolicyOf, st, base, clock).WithMailBudget(limiter),
	}
	for _, o := range opts {
		o(&d)
	}
	app, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{t: t, app: app, store: sp, st: st, smtp: smtpSrv, rec: rec, prof: d.Profile, jar: map[string]string{}, ip: "203.0.113.7", skew: skew}
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
		d = doc(a.t, a.get("/account"))
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

// at fixes the clock of the app.
func at(tm time.Time) func(*Deps) {
	return func(d *Deps) { d.Now = func() time.Time { return tm } }
}
