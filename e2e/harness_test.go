// Package e2e drives the real sesame binary from a real browser: Debian's
// Chromium, headless, at a phone's viewport, with axe-core checking each
// page for accessibility problems.
package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// binary is the sesame executable built once for all tests.
var binary string

// browsers is the one Chromium process of the run, started by the first
// test that needs a browser.
var browsers chromium

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	// Four tests at a time unless -parallel says otherwise: much of a
	// browser test is waiting (the fault tests wait out the server's
	// timeouts, a page waits for its mail), and at the default of one test
	// per core a core sat idle. Measured on 2 cores: 77 s two at a time,
	// 54–56 s three, 50–52 s four.
	flag.Parse()
	parallelSet := false
	flag.Visit(func(f *flag.Flag) { parallelSet = parallelSet || f.Name == "test.parallel" })
	if !parallelSet {
		_ = flag.Set("test.parallel", "4")
	}
	dir, err := os.MkdirTemp("", "sesame-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// make test passes the binary that make build produced, the same one
	// the Dockerfile ships; a plain go test builds one the same way.
	binary = os.Getenv("SESAME_BINARY")
	if binary == "" {
		binary = filepath.Join(dir, "sesame")
		build := exec.Command("go", "build", "-trimpath", "-o", binary, "..")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "build sesame:", err)
			return 1
		}
	}
	code := m.Run()
	browsers.stop()
	return code
}

// server is a running sesame process.
type server struct {
	URL     string
	DataDir string
	cmd     *exec.Cmd
	mu      sync.Mutex
	logs    strings.Builder
}

// Logs returns what the process has written so far.
func (s *server) Logs() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logs.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

var listening = regexp.MustCompile(`msg=listening addr=(\S+)`)

// startServer runs the binary with the embedded store in a fresh data
// directory; env adds or overrides variables.
func startServer(t *testing.T, env ...string) *server {
	t.Helper()
	port := freePort(t)
	s := &server{URL: fmt.Sprintf("http://127.0.0.1:%d", port), DataDir: t.TempDir()}
	s.cmd = exec.Command(binary)
	s.cmd.Env = append(os.Environ(),
		fmt.Sprintf("SESAME_ADDR=127.0.0.1:%d", port),
		"SESAME_BASE_URL="+s.URL,
		"SESAME_DATA_DIR="+s.DataDir,
		"SESAME_LOG_FORMAT=text",
	)
	s.cmd.Env = append(s.cmd.Env, env...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		once := sync.Once{}
		for sc.Scan() {
			s.mu.Lock()
			s.logs.WriteString(sc.Text() + "\n")
			s.mu.Unlock()
			if listening.MatchString(sc.Text()) {
				once.Do(func() { close(ready) })
			}
		}
	}()
	t.Cleanup(func() {
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = s.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = s.cmd.Process.Kill()
			t.Error("sesame did not stop within 10 s of SIGTERM")
		}
		if t.Failed() {
			t.Logf("server logs:\n%s", s.Logs())
		}
	})
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatalf("sesame did not start:\n%s", s.Logs())
	}
	return s
}

// chromiumPath finds Debian's Chromium: SESAME_CHROMIUM when set, else
// its headless shell (package chromium-headless-shell: the same Blink, the
// same version, without the browser's windows and their own WebUI
// renderers, with which the browser tests took 2.6 times as long on 2
// cores), else the full browser. Browser tests are skipped without one, unless
// SESAME_E2E=require (as in make test), where they fail.
func chromiumPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("SESAME_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium-headless-shell", "chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("SESAME_E2E") == "require" {
		t.Fatal("Chromium not found; install Debian's chromium-headless-shell (or chromium) package")
	}
	t.Skip("Chromium not found; set SESAME_E2E=require to make this a failure")
	return ""
}

// chromium is one headless Chromium shared by every test: each test gets a
// browser context of its own in it (its own cookies, storage, cache and
// downloads, as a private window has), which takes a tenth of the second
// and a half a new Chromium process takes to start. A person's two devices
// are two browser contexts too.
type chromium struct {
	once   sync.Once
	ctx    context.Context
	err    error
	cancel func()
}

// browser returns the context of the shared Chromium, starting it once.
func (c *chromium) browser(t *testing.T) context.Context {
	t.Helper()
	path := chromiumPath(t)
	c.once.Do(func() {
		dir, err := os.MkdirTemp("", "sesame-chromium-")
		if err != nil {
			c.err = err
			return
		}
		opts := append(chromedp.DefaultExecAllocatorOptions[:],
			chromedp.ExecPath(path),
			chromedp.NoSandbox,
			chromedp.DisableGPU,
			chromedp.Flag("disable-quic", true),
			chromedp.Flag("disable-component-update", true),
			chromedp.UserDataDir(dir),
			chromedp.WindowSize(390, 844),
			// A parent in France: the browser asks for French first.
			chromedp.Flag("accept-lang", "fr-FR,fr"),
		)
		actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
		ctx, cancelB := chromedp.NewContext(actx)
		c.ctx = ctx
		c.cancel = func() { cancelB(); cancelA(); os.RemoveAll(dir) }
		// The first run starts the process; browser contexts can only be
		// made once it is up.
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`true`)); err != nil {
			c.err = fmt.Errorf("start Chromium: %w", err)
		}
	})
	if c.err != nil {
		t.Fatal(c.err)
	}
	return c.ctx
}

func (c *chromium) stop() {
	if c.cancel != nil {
		c.cancel()
	}
}

// browser is a headless Chromium tab at a phone's viewport, in a browser
// context of its own, that records console errors and page exceptions.
type browser struct {
	ctx    context.Context
	mu     sync.Mutex
	errors []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	actx, cancelA := context.WithTimeout(browsers.browser(t), 90*time.Second)
	ctx, cancelC := chromedp.NewContext(actx, chromedp.WithNewBrowserContext())
	b := &browser{ctx: ctx}
	t.Cleanup(func() {
		if t.Failed() {
			// What the person saw when it went wrong.
			if html, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.outerHTML`)); err == nil {
				_ = os.MkdirAll("artifacts", 0o755)
				_ = os.WriteFile(filepath.Join("artifacts", "failure-"+strings.ReplaceAll(t.Name(), "/", "_")+".html"), []byte(html), 0o644)
			}
		}
		cancelC()
		cancelA()
	})
	if err := chromedp.Listen(ctx, func(ev any) {
		b.mu.Lock()
		defer b.mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range e.Args {
					parts = append(parts, string(a.Value))
				}
				b.errors = append(b.errors, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			b.errors = append(b.errors, "exception: "+msg)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError {
				b.errors = append(b.errors, "log: "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	if err := chromedp.Do(ctx,
		chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(3), chromedp.EmulateMobile, chromedp.EmulateTouch),
	); err != nil {
		t.Fatalf("start Chromium: %v", err)
	}
	return b
}

func (b *browser) run(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

// consoleErrors returns and clears what the page logged as errors.
func (b *browser) consoleErrors() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.errors
	b.errors = nil
	return e
}

func (b *browser) noConsoleErrors(t *testing.T) {
	t.Helper()
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n  %s", strings.Join(errs, "\n  "))
	}
}

type axeResult struct {
	Violations []struct {
		ID     string `json:"id"`
		Impact string `json:"impact"`
		Help   string `json:"help"`
		Nodes  []struct {
			Target []any `json:"target"`
		} `json:"nodes"`
	} `json:"violations"`
	Passes []json.RawMessage `json:"passes"`
}

// axe runs axe-core (from node_modules, installed by npm ci) on the page and
// fails the test on any violation of WCAG 2.x A/AA or best practices.
func (b *browser) axe(t *testing.T, page string) {
	t.Helper()
	src, err := os.ReadFile("../node_modules/axe-core/axe.min.js")
	if err != nil {
		t.Fatalf("axe-core missing (run npm ci): %v", err)
	}
	res, err := chromedp.Run(b.ctx, chromedp.Evaluate[axeResult](string(src)+`;
		axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]}})`,
		func(p *runtime.EvaluateParams) { yes := true; p.AwaitPromise = &yes }))
	if err != nil {
		t.Fatalf("axe on %s: %v", page, err)
	}
	if len(res.Passes) == 0 {
		t.Fatalf("axe on %s checked nothing", page)
	}
	for _, v := range res.Violations {
		var where []string
		for _, n := range v.Nodes {
			where = append(where, fmt.Sprint(n.Target...))
		}
		t.Errorf("axe on %s: %s (%s): %s at %s", page, v.ID, v.Impact, v.Help, strings.Join(where, ", "))
	}
}

// screenshot keeps a picture of the page in e2e/artifacts for people to
// look at, when SESAME_E2E_SCREENSHOTS is set: a full-page picture at the
// phone's scale takes half a second to encode, 40 s of a run that checks
// nothing with it (a failure keeps the page's HTML anyway).
func (b *browser) screenshot(t *testing.T, name string) {
	t.Helper()
	if os.Getenv("SESAME_E2E_SCREENSHOTS") == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll("artifacts", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join("artifacts", name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// eval evaluates a JavaScript expression and returns its value.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("eval %q: %v", expr, err)
	}
	return v
}
