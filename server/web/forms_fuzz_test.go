package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gofiber/fiber/v2"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/store/storetest"
)

// fuzzApp is one application shared by every input of a fuzz target: the
// store, its CSRF cookie and token, and a signed-in session, set up once.
type fuzzApp struct {
	app     *fiber.App
	client  *http.Client
	base    string // http://127.0.0.1:port
	csrf    string // the CSRF cookie's value
	token   string // the form token that goes with it
	session string // the session cookie of a signed-in account
}

// newFuzzApp mirrors newTestApp (helpers_test.go), which needs a
// *testing.T that a fuzz target does not have before its first input:
// testing.TB here, so that the app lives as long as the fuzz target. It
// leaves out the mail worker and SMTP server (mails stay in the outbox),
// which no HTTP answer waits for.
func newFuzzApp(tb testing.TB) *fuzzApp {
	tb.Helper()
	st := storetest.New(tb)
	base, _ := url.Parse("http://sesame.test")
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sc, err := school.Load("../../config.example.yaml")
	if err != nil {
		tb.Fatal(err)
	}
	loc, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		tb.Fatal(err)
	}
	from, _ := netmail.ParseAddress("Sésame <noreply@sesame.test>")
	params := account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}
	// Mails go to a discarded log: no HTTP answer waits for them.
	a, err := app.New(app.Options{
		Log: log, Store: st, StoreKind: "embedded", School: sc, Secret: []byte("test-secret-test-secret-test-secret"),
		BaseURL: base, MailFrom: from, Sender: mail.NewLogSender(log), Location: loc,
		Dist: os.DirFS("../../frontend/dist"), Hash: params, FailureFloor: -1,
	})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { a.Run(ctx); close(done) }()
	tb.Cleanup(func() { cancel(); <-done })
	app := a.HTTP
	hasher := account.NewHasher(params, 1)
	hash, _ := hasher.Hash(annePassword)
	old := time.Now().Add(-24 * time.Hour)
	if err := st.Accounts().SaveAccount(context.Background(), account.Account{
		ID: "p003", Identifier: "P003", Email: "leo.martin@example.fr", FirstName: "Léo", LastName: "Martin",
		Population: "parents", Status: account.StatusActive, PasswordHash: hash, PasswordSetBy: account.SetByImport,
		CreatedAt: old, UpdatedAt: old,
	}, ""); err != nil {
		tb.Fatal(err)
	}

	fx := &fuzzApp{app: app}
	fx.base, fx.client = listen(tb, app)
	// The CSRF cookie and token of one browser, then its sign-in.
	resp := fx.send(tb, fx.request(http.MethodGet, "/", nil))
	for _, c := range resp.Cookies() {
		if c.Name == "sesame_csrf" {
			fx.csrf = c.Value
		}
	}
	d, err := goquery.NewDocumentFromReader(resp.Body)
	resp.Body.Close()
	if err != nil {
		tb.Fatal(err)
	}
	fx.token, _ = d.Find(`input[name="_csrf"]`).First().Attr("value")
	if fx.csrf == "" || fx.token == "" {
		tb.Fatal("no CSRF cookie or token on the login page")
	}
	form := url.Values{csrfField: {fx.token}, "identifier": {"P003"}, "password": {annePassword}}
	req := fx.request(http.MethodPost, paths.Login, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "sesame_csrf", Value: fx.csrf})
	resp = fx.send(tb, req)
	for _, c := range resp.Cookies() {
		if c.Name == "sesame_session" {
			fx.session = c.Value
		}
	}
	if resp.StatusCode != http.StatusSeeOther || fx.session == "" {
		tb.Fatalf("sign-in for the fuzz target: status %d", resp.StatusCode)
	}
	return fx
}

func (fx *fuzzApp) request(method, path string, body io.Reader) *http.Request {
	req, err := http.NewRequest(method, fx.base+path, body)
	if err != nil {
		panic(err)
	}
	return req
}

func (fx *fuzzApp) send(tb testing.TB, req *http.Request) *http.Response {
	tb.Helper()
	resp, err := fx.client.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return resp
}

// listen serves app on a loopback port until the test ends, and returns
// its address and a client that does not follow redirects. Fiber's
// app.Test reports an error instead of the answer whenever fasthttp
// refuses a request before the handlers (a body over BodyLimit, a broken
// multipart body), so hostile requests go through a real connection, as
// in production.
func listen(tb testing.TB, app *fiber.App) (string, *http.Client) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	served := make(chan struct{})
	go func() { _ = app.Listener(ln); close(served) }()
	tb.Cleanup(func() { _ = app.ShutdownWithTimeout(5 * time.Second); <-served })
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return "http://" + ln.Addr().String(), client
}

// fuzzRoutes are the forms that read outside input (route % 5; new ones
// go at the end, so that the corpus keeps its meaning).
var fuzzRoutes = []string{paths.RecoveryRequest, paths.RecoveryCode, paths.Login, paths.Account, paths.ActivationStart}

// FuzzFormPost posts arbitrary bodies, with arbitrary content types, to
// the forms (/recovery/request, /recovery/code, /login, /account — signed
// in — and /activation/start), with a valid CSRF token (in the X-CSRF-Token header, so that
// whatever the body holds, the request reaches the handler). Whatever
// comes in, the answer is a page, never a server error or a panic (the
// recover middleware turns a panic into a 500).
func FuzzFormPost(f *testing.F) {
	const form = "application/x-www-form-urlencoded"
	big := strings.Repeat("x", 10<<10)
	many := strings.Repeat("a=1&", 5000)
	seeds := []struct {
		route uint8
		ct    string
		body  string
	}{
		{0, form, "kind=password&population=parents&input=P003&consent=yes"},
		{0, form, "kind=identifier&population=parents&input=famille.durand%40example.fr&consent=yes"},
		{0, form, "kind=identifier&population=parents&input=a%40b.fr%0D%0ABcc%3A+x%40y.fr&consent=yes"},
		{0, form, "kind=password&population=parents&input=P0%FF03&consent=yes"},
		{0, form, "kind=password&population=parents&input=P0%0003&consent=yes"},
		{0, form, "kind=password&population=nowhere&input=P003&consent=yes"},
		{0, form, "kind=shell&population=parents&input=" + big + "&consent=yes"},
		{0, form, many + "population=parents&input=P003"},
		{0, "application/json", `{"population":"parents","input":"P003","consent":"yes"}`},
		{0, "application/json", `{"input":["a"],"consent":1}`},
		{0, "application/xml", `<recoveryForm><Input>P003</Input></recoveryForm>`},
		{0, "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"input\"\r\n\r\nP003\r\n--X--\r\n"},
		{0, "multipart/form-data; boundary=X", "--X\r\nContent-Disposition: form-data; name=\"input\"; filename=\"a\"\r\n\r\nP003\r\n"},
		{0, "multipart/form-data", "--\r\n"},
		{1, form, "code=T3A8XQ&flow=0123456789abcdef0123456789abcdef"},
		{1, form, "code=%00%00%00%00%00%00&flow=%FF"},
		{2, form, "identifier=P003&password=wrong-password"},
		{2, form, "identifier=a%40b%40c.fr&password=x"},
		{2, form, "identifier=%00&password=%FF%FE"},
		{2, "text/plain", "identifier=P003&password=x"},
		{3, form, "email=leo.martin%40example.fr&phone=06+12+34+56+78&newsletter=yes"},
		{3, form, "email=x%40y.fr%0D%0ABcc%3A+z%40w.fr&phone=0612345678"},
		{3, form, "email=a%C2%85b%40example.fr&phone="},
		{3, form, "email=&phone=%2B33+%280%296+12+34+56+78"},
		{3 | 0x80, form, "email=leo.martin%40example.fr&phone=%FF"},
		{3, "", ""},
		{4, form, "identifier=S100&password=Prov-1234"},
		{4, form, "identifier=S100%00&password=%FF"},
	}
	for _, s := range seeds {
		f.Add(s.route, s.ct, []byte(s.body))
	}
	fx := newFuzzApp(f)
	f.Fuzz(func(t *testing.T, route uint8, contentType string, body []byte) {
		path := fuzzRoutes[int(route&0x7f)%len(fuzzRoutes)]
		if strings.ContainsFunc(contentType, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return // net/http refuses to send such a header; fasthttp would not get it either
		}
		req := fx.request(http.MethodPost, path, bytes.NewReader(body))
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if route&0x80 != 0 {
			req.Header.Set("HX-Request", "true")
		}
		req.Header.Set("X-CSRF-Token", fx.token)
		req.AddCookie(&http.Cookie{Name: "sesame_csrf", Value: fx.csrf})
		if path == paths.Account {
			req.AddCookie(&http.Cookie{Name: "sesame_session", Value: fx.session})
		}
		resp := fx.send(t, req)
		defer resp.Body.Close()
		page, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s (%q, %d bytes): status %d\n%s", path, contentType, len(body), resp.StatusCode, errorText(page))
		}
		if resp.StatusCode != http.StatusSeeOther && !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("POST %s: status %d with Content-Type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	})
}

// errorText is the heading of an error page, for failure messages.
func errorText(page []byte) string {
	s := string(page)
	if i := strings.Index(s, "<h1"); i >= 0 {
		s = s[i:]
		if j := strings.Index(s, "</h1>"); j >= 0 {
			return s[:j]
		}
	}
	if len(s) > 300 {
		s = s[:300]
	}
	return s
}
