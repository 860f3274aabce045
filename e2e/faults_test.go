package e2e

// Fault tests: the real binary under SMTP outages, kill -9, an unreachable
// store, and two instances sharing one store. They drive the recovery flow
// with net/http and a cookie jar (no browser), as a person's browser would
// without JavaScript: every step is a full page with its precise status.
// This file holds their helpers; the tests are in faults_smtp_test.go,
// faults_crash_test.go, faults_store_test.go and faults_instances_test.go.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
	"github.com/sesame-edu/sesame/server/store"
)

// faultConfig is the school configuration of every fault test: several
// populations, so step 1 needs population=parents.
const faultConfig = "SESAME_CONFIG=../config.example.yaml"

// faultPassword meets the parents' policy (8–32, a digit and a letter).
const faultPassword = "Velo-rouge-2031"

// faultAccounts returns a CSV of n parents P001…Pn, each with their own
// address p001@example.fr….
func faultAccounts(n int) string {
	var b strings.Builder
	b.WriteString("identifier,email,first_name,last_name,population,password\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "P%03d,p%03d@example.fr,Prénom%d,Nom%d,parents,Ancien-mdp-%04d\n", i, i, i, i, 2000+i)
	}
	return b.String()
}

func faultID(i int) string   { return fmt.Sprintf("P%03d", i) }
func faultMail(i int) string { return fmt.Sprintf("p%03d@example.fr", i) }

// ---------------------------------------------------------------------------
// A sesame process that can be killed with SIGKILL and started again.

type instance struct {
	URL     string
	DataDir string
	Port    int
	cmd     *exec.Cmd
	done    chan struct{} // closed when the process has exited
	mu      sync.Mutex
	logs    strings.Builder
}

// Logs returns what the process has written so far.
func (p *instance) Logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.logs.String()
}

// startInstance runs the binary on 127.0.0.1:port with dataDir; env adds or
// overrides variables (SESAME_MONGODB_URI, SESAME_SECRET…). Unlike
// startServer it keeps the port and directory the caller chose, so that a
// restart after kill -9 is the same site to the browser's cookie jar.
func startInstance(t *testing.T, port int, dataDir string, env ...string) *instance {
	t.Helper()
	p := &instance{URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: dataDir, Port: port, done: make(chan struct{})}
	p.cmd = exec.Command(binary)
	p.cmd.Env = append(os.Environ(),
		fmt.Sprintf("SESAME_ADDR=127.0.0.1:%d", port),
		"SESAME_BASE_URL="+p.URL,
		"SESAME_DATA_DIR="+dataDir,
		"SESAME_LOG_FORMAT=text",
		"SESAME_METRICS_TOKEN="+metricsToken,
	)
	p.cmd.Env = append(p.cmd.Env, env...)
	out, err := p.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	p.cmd.Stderr = p.cmd.Stdout
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		once := sync.Once{}
		for sc.Scan() {
			p.mu.Lock()
			p.logs.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			if listening.MatchString(sc.Text()) {
				once.Do(func() { close(ready) })
			}
		}
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				_ = p.cmd.Process.Kill()
				<-p.done
				t.Errorf("sesame on port %d did not stop within 10 s of SIGTERM", port)
			}
		}
		if t.Failed() {
			t.Logf("logs of sesame on port %d:\n%s", port, p.Logs())
		}
	})
	select {
	case <-ready:
	case <-p.done:
		t.Fatalf("sesame exited at start:\n%s", p.Logs())
	case <-time.After(20 * time.Second):
		t.Fatalf("sesame did not start:\n%s", p.Logs())
	}
	return p
}

// kill9 ends the process with SIGKILL, as a crash or the OOM killer would:
// no deferred function, no shutdown, no flush.
func (p *instance) kill9(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Fatal("sesame survived SIGKILL")
	}
}

// waitLog waits until the logs contain substr at least n times.
func (p *instance) waitLog(t *testing.T, substr string, n int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(p.Logs(), substr) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the logs show %q %d times after %s, want at least %d", substr, strings.Count(p.Logs(), substr), timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// metricsToken lets the harness read the mail backlog on /readyz, which
// the public answer leaves out.
const metricsToken = "faults-metrics-token-0123456789-abcdefgh"

// readyz is /readyz's answer, as the operator sees it.
type readyz struct {
	Status string `json:"status"`
	Mail   *struct {
		Waiting int `json:"waiting"`
	} `json:"mail"`
}

func getReadyz(base string) (int, readyz, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	req, err := http.NewRequest(http.MethodGet, base+"/readyz", nil)
	if err != nil {
		return 0, readyz{}, err
	}
	req.Header.Set("Authorization", "Bearer "+metricsToken)
	resp, err := c.Do(req)
	if err != nil {
		return 0, readyz{}, err
	}
	defer resp.Body.Close()
	var r readyz
	_ = json.NewDecoder(resp.Body).Decode(&r)
	return resp.StatusCode, r, nil
}

// waitReady polls /readyz until it answers want.
func waitReady(t *testing.T, base string, want int, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, _, err := getReadyz(base)
		if err == nil && code == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("/readyz answered %d (%v) for %s, want %d", code, err, timeout, want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitOutboxEmpty polls /readyz until no mail waits in the outbox (it
// counts every instance's). A sent message is final, so after this no
// delivery can happen any more and counting mails at the sink is exact.
func waitOutboxEmpty(t *testing.T, base string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, r, err := getReadyz(base)
		if err == nil && code == 200 && r.Mail != nil && r.Mail.Waiting == 0 {
			return
		}
		if time.Now().After(deadline) {
			w := -1
			if r.Mail != nil {
				w = r.Mail.Waiting
			}
			t.Fatalf("the outbox still has %d mail(s) waiting after %s (/readyz %d, %v)", w, timeout, code, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// ---------------------------------------------------------------------------
// Mail helpers that never call Fatal on another test than their caller's.

func mailsTo(s *mailtest.Server, addr string) []mailtest.Mail {
	var out []mailtest.Mail
	for _, m := range s.All() {
		for _, to := range m.To {
			if strings.EqualFold(to, addr) {
				out = append(out, m)
			}
		}
	}
	return out
}

// waitMails waits until addr has received n mails and returns them.
func waitMails(t *testing.T, s *mailtest.Server, addr string, n int, timeout time.Duration) []mailtest.Mail {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := mailsTo(s, addr)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mail(s) to %s after %s, want %d", len(got), addr, timeout, n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// codeOf returns the code and flow id a recovery mail carries.
func codeOf(t *testing.T, m mailtest.Mail) (code, flow string) {
	t.Helper()
	code = m.Code()
	for _, l := range m.Links() {
		if u, err := url.Parse(l); err == nil && u.Query().Get("flow") != "" {
			flow = u.Query().Get("flow")
		}
	}
	if code == "" || flow == "" {
		t.Fatalf("no code or flow link in the mail:\n%s", m.Text)
	}
	return code, flow
}

// wrongCode returns a well-formed code that is not code.
func wrongCode(code string, i int) string {
	for _, c := range []string{"222222", "333333", "444444", "555555", "666666", "777777", "888888", "999999", "AAAAAA", "BBBBBB", "CCCCCC"}[i%11:] {
		if c != code {
			return c
		}
	}
	return "DDDDDD"
}

// ---------------------------------------------------------------------------
// A person's browser without JavaScript: a cookie jar, a language, forms.

type visitor struct {
	t    *testing.T
	c    *http.Client
	lang string
	// mu guards csrf: some tests send one visitor's requests at once.
	mu   sync.Mutex
	csrf string
}

func newVisitor(t *testing.T, lang string) *visitor {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &visitor{t: t, lang: lang, c: &http.Client{
		Jar:     jar,
		Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}}
}

// page is an answer: status, headers, parsed HTML.
type page struct {
	Status int
	Header http.Header
	Body   string
	Doc    *goquery.Document
	Took   time.Duration
}

// Step is the recovery step shown ("" when none).
func (p page) Step() string {
	return p.Doc.Find("#recovery-step[data-step]").First().AttrOr("data-step", "")
}

// Text is the visible text, spaces collapsed.
func (p page) Text() string { return strings.Join(strings.Fields(p.Doc.Text()), " ") }

func (p page) String() string {
	return fmt.Sprintf("status %d, step %q: %.600s", p.Status, p.Step(), p.Text())
}

func (v *visitor) do(req *http.Request) (page, error) {
	req.Header.Set("Accept-Language", v.lang)
	start := time.Now()
	resp, err := v.c.Do(req)
	if err != nil {
		return page{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return page{}, err
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(string(body)))
	if err != nil {
		return page{}, err
	}
	p := page{Status: resp.StatusCode, Header: resp.Header, Body: string(body), Doc: doc, Took: time.Since(start)}
	if tok, ok := doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok && tok != "" {
		v.mu.Lock()
		v.csrf = tok
		v.mu.Unlock()
	}
	return p, nil
}

// tryGet and tryPost return transport errors instead of failing, for use
// from goroutines.
func (v *visitor) tryGet(u string) (page, error) {
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		return page{}, err
	}
	return v.do(req)
}

// token is the visitor's current CSRF token.
func (v *visitor) token() string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.csrf
}

func (v *visitor) tryPost(u string, form url.Values) (page, error) {
	v.mu.Lock()
	form.Set("_csrf", v.csrf)
	v.mu.Unlock()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		return page{}, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	p, err := v.do(req)
	// A browser without JavaScript follows the POST/Redirect/GET's 303
	// with a GET of the page it names (on this site).
	if loc := p.Header.Get("Location"); err == nil && p.Status == http.StatusSeeOther && strings.HasPrefix(loc, "/") {
		return v.tryGet(strings.TrimSuffix(u, req.URL.Path) + loc)
	}
	return p, err
}

func (v *visitor) get(u string) page {
	v.t.Helper()
	p, err := v.tryGet(u)
	if err != nil {
		v.t.Fatalf("GET %s: %v", u, err)
	}
	return p
}

func (v *visitor) post(u string, form url.Values) page {
	v.t.Helper()
	p, err := v.tryPost(u, form)
	if err != nil {
		v.t.Fatalf("POST %s: %v", u, err)
	}
	return p
}

// csrfFrom fetches a page of base for the CSRF cookie and token; a page
// that does not need the store.
func (v *visitor) csrfFrom(base string) {
	v.t.Helper()
	if p := v.get(base + "/recovery?population=parents"); p.Status != 200 || v.token() == "" {
		v.t.Fatalf("no CSRF token from %s: %s", base, p)
	}
}

func requestForm(identifier string) url.Values {
	return url.Values{"kind": {"password"}, "population": {"parents"}, "input": {identifier}, "consent": {"yes"}}
}

// tryRequest is step 1's submit.
func (v *visitor) tryRequest(base, identifier string) (page, error) {
	if v.token() == "" {
		if _, err := v.tryGet(base + "/recovery?population=parents"); err != nil {
			return page{}, err
		}
	}
	return v.tryPost(base+"/recovery/request", requestForm(identifier))
}

// requestCode does step 1 and expects step 2.
func (v *visitor) requestCode(base, identifier string) page {
	v.t.Helper()
	p, err := v.tryRequest(base, identifier)
	if err != nil {
		v.t.Fatalf("request a code for %s: %v", identifier, err)
	}
	if p.Status != 200 || p.Step() != "code" {
		v.t.Fatalf("request a code for %s: want step 2, got %s", identifier, p)
	}
	return p
}

// enterCode is step 2's submit; flow may be empty (the cookie names it).
func (v *visitor) enterCode(base, flow, code string) page {
	v.t.Helper()
	return v.post(base+"/recovery/code", url.Values{"kind": {"password"}, "population": {"parents"}, "flow": {flow}, "code": {code}})
}

func (v *visitor) setPassword(base, password string) page {
	v.t.Helper()
	return v.post(base+"/recovery/password", url.Values{"kind": {"password"}, "population": {"parents"}, "password": {password}, "confirm": {password}})
}

// ---------------------------------------------------------------------------
// Network faults.

// tcpProxy forwards a fixed local address to a target that can change or
// vanish: cutting it is a network outage (open connections drop, new ones
// are closed at once), restoring it points the same address at a new server.
//
// Hang is the other outage: packets vanish (a partition, a firewall that
// drops): connections stay open and nothing comes back.
type tcpProxy struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
	conns  map[net.Conn]struct{}
	hung   chan struct{} // non-nil while hung; closed when it ends
}

// Hang stops forwarding anything, on open connections and new ones, until
// Resume.
func (p *tcpProxy) Hang() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hung == nil {
		p.hung = make(chan struct{})
	}
}

// Resume forwards again; what was held is delivered.
func (p *tcpProxy) Resume() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.hung != nil {
		close(p.hung)
		p.hung = nil
	}
}

// gate blocks while the proxy hangs.
func (p *tcpProxy) gate() {
	p.mu.Lock()
	h := p.hung
	p.mu.Unlock()
	if h != nil {
		<-h
	}
}

// pipe copies src to dst through the gate.
func (p *tcpProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32*1024)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate()
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	_ = dst.Close()
	_ = src.Close()
}

func startProxy(t *testing.T, addr, target string) *tcpProxy {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	p := &tcpProxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		_ = ln.Close()
		p.Resume()
		p.SetTarget("")
	})
	return p
}

func (p *tcpProxy) Addr() string { return p.ln.Addr().String() }

// SetTarget points the proxy at target; "" cuts it and every open connection.
func (p *tcpProxy) SetTarget(target string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.target = target
	if target == "" {
		for c := range p.conns {
			_ = c.Close()
		}
		clear(p.conns)
	}
}

func (p *tcpProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *tcpProxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.target == "" {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *tcpProxy) handle(c net.Conn) {
	p.gate()
	p.mu.Lock()
	target := p.target
	p.mu.Unlock()
	if target == "" {
		_ = c.Close()
		return
	}
	up, err := net.DialTimeout("tcp", target, 2*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	if !p.track(c, up) {
		_ = c.Close()
		_ = up.Close()
		return
	}
	go p.pipe(up, c)
	p.pipe(c, up)
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// startFerret runs FerretDB over SQLite files in dir, in this test process,
// on loopback TCP, and returns it and its host:port.
func startFerret(t *testing.T, dir string) (*store.Embedded, string) {
	t.Helper()
	e, err := store.StartEmbedded(dir, true, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Stop) // Stop may run twice: the second returns at once
	u, err := url.Parse(e.URI())
	if err != nil || u.Host == "" {
		t.Fatalf("FerretDB URI %q: %v", e.URI(), err)
	}
	return e, u.Host
}
