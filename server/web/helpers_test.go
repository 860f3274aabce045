package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/i18n"
	"github.com/sesame-edu/sesame/server/school"
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
	jar   map[string]string
}

func newTestApp(t *testing.T, opts ...func(*Deps)) *testApp {
	t.Helper()
	cat, err := i18n.New()
	if err != nil {
		t.Fatal(err)
	}
	sp := &switchPinger{inner: storetest.New(t)}
	base, _ := url.Parse("http://sesame.test")
	d := Deps{
		Log:     slog.New(slog.NewTextHandler(io.Discard, nil)),
		Catalog: cat, Dist: os.DirFS("../../frontend/dist"), Store: sp, StoreKind: "embedded",
		Secret: []byte("test-secret-test-secret-test-secret"), BaseURL: base,
		School: testSchool(t), Location: paris(t),
	}
	for _, o := range opts {
		o(&d)
	}
	app, err := New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &testApp{t: t, app: app, store: sp, jar: map[string]string{}}
}

// do sends a request with the jar's cookies and keeps the ones set.
func (a *testApp) do(req *http.Request) *http.Response {
	a.t.Helper()
	for k, v := range a.jar {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
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
