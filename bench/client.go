package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/andybalholm/brotli"
)

// newTransport is the connection pool shared by simulated people: each
// request in flight gets its own loopback connection, as separate phones
// would. Compression is negotiated by the requests themselves (br, gzip),
// so bodies arrive compressed and are decoded here.
func newTransport(conns int) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second}).DialContext,
		MaxIdleConns:        conns * 2,
		MaxIdleConnsPerHost: conns * 2,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

// countingTransport counts the bytes read from and written to the server
// on its connections: the bytes on the wire, headers included.
type countingTransport struct {
	*http.Transport
	in, out atomic.Int64
}

func newCountingTransport() *countingTransport {
	ct := &countingTransport{}
	d := &net.Dialer{Timeout: 10 * time.Second}
	ct.Transport = newTransport(1)
	ct.Transport.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &countingConn{Conn: c, t: ct}, nil
	}
	return ct
}

type countingConn struct {
	net.Conn
	t *countingTransport
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.t.in.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.t.out.Add(int64(n))
	return n, err
}

// jar is one person's cookies (one browser, one host).
type jar struct{ m map[string]string }

func (j *jar) SetCookies(_ *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		if c.MaxAge < 0 || c.Value == "" {
			delete(j.m, c.Name)
		} else {
			j.m[c.Name] = c.Value
		}
	}
}

func (j *jar) Cookies(*url.URL) []*http.Cookie {
	out := make([]*http.Cookie, 0, len(j.m))
	for k, v := range j.m {
		out = append(out, &http.Cookie{Name: k, Value: v})
	}
	return out
}

// browser is one simulated person: their cookies, the form token of their
// CSRF cookie, and the page they are on (for HX-Current-URL).
type browser struct {
	base   string
	client *http.Client
	jar    *jar
	csrf   string
	page   string
}

const userAgent = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1 sesame-bench"

func newBrowser(base string, rt http.RoundTripper) *browser {
	j := &jar{m: map[string]string{}}
	return &browser{base: base, jar: j, client: &http.Client{
		Transport: rt, Jar: j, Timeout: 60 * time.Second,
		// Each hop is timed on its own.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// clone is another person on the same kind of browser: a copy of the
// cookies (the CSRF cookie) and of the form token, nothing else shared.
func (b *browser) clone() *browser {
	c := newBrowser(b.base, b.client.Transport)
	for k, v := range b.jar.m {
		c.jar.m[k] = v
	}
	c.csrf, c.page = b.csrf, b.page
	return c
}

// response is what a request brought back, body decoded.
type response struct {
	Status   int
	Header   http.Header
	Body     string
	WireBody int // body bytes as sent, before decoding
}

var errTransport = errors.New("transport")

// do sends one request as the browser would: compressed bodies accepted,
// a French phone, HTMX headers for the dialog's requests, Origin and
// Sec-Fetch-Site on forms (what Go's CrossOriginProtection looks at).
func (b *browser) do(method, path string, form url.Values, htmx bool) (response, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		return response{}, err
	}
	h := req.Header
	h.Set("User-Agent", userAgent)
	h.Set("Accept-Encoding", "br, gzip")
	h.Set("Accept-Language", "fr-FR,fr;q=0.9,en;q=0.8")
	if htmx {
		h.Set("Accept", "*/*")
		h.Set("HX-Request", "true")
		h.Set("HX-Target", "recovery-step")
		h.Set("HX-Current-URL", b.base+b.page)
		h.Set("Sec-Fetch-Mode", "cors")
		h.Set("Sec-Fetch-Site", "same-origin")
	} else {
		h.Set("Accept", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8")
		h.Set("Sec-Fetch-Mode", "navigate")
		if b.page == "" {
			h.Set("Sec-Fetch-Site", "none")
		} else {
			h.Set("Sec-Fetch-Site", "same-origin")
		}
	}
	if form != nil {
		h.Set("Content-Type", "application/x-www-form-urlencoded")
		h.Set("Origin", b.base)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return response{}, fmt.Errorf("%w: %v", errTransport, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return response{Status: resp.StatusCode}, fmt.Errorf("%w: read body: %v", errTransport, err)
	}
	wire := len(raw)
	var r io.Reader
	switch resp.Header.Get("Content-Encoding") {
	case "br":
		r = brotli.NewReader(bytes.NewReader(raw))
	case "gzip":
		if r, err = gzip.NewReader(bytes.NewReader(raw)); err != nil {
			return response{Status: resp.StatusCode}, fmt.Errorf("gunzip: %v", err)
		}
	}
	if r != nil {
		if raw, err = io.ReadAll(r); err != nil {
			return response{Status: resp.StatusCode}, fmt.Errorf("decode %s: %v", resp.Header.Get("Content-Encoding"), err)
		}
	}
	if method == http.MethodGet && !htmx && !strings.HasPrefix(path, "/assets/") {
		b.page = path
	}
	return response{Status: resp.StatusCode, Header: resp.Header, Body: string(raw), WireBody: wire}, nil
}

var (
	csrfRE    = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)
	assetRE   = regexp.MustCompile(`(?:href|src)="(/assets/[^"]+)"`)
	stepRE    = regexp.MustCompile(`data-step="([a-z-]+)"`)
	accountRE = regexp.MustCompile(`name="account" value="([^"]+)"`)
)

// readCSRF keeps the form token of a page.
func (b *browser) readCSRF(r response) bool {
	if m := csrfRE.FindStringSubmatch(r.Body); m != nil {
		b.csrf = m[1]
		return true
	}
	return false
}

// flowID is the flow named by the sesame_recovery cookie.
func (b *browser) flowID() string {
	id, _, _ := strings.Cut(b.jar.m["sesame_recovery"], ".")
	return id
}

// step returns the recovery step a fragment shows ("" when none).
func step(body string) string {
	if m := stepRE.FindStringSubmatch(body); m != nil {
		return m[1]
	}
	return ""
}

// check classifies a response: nil when it is the expected one.
func check(r response, err error, wantStatus int, wantStep string) error {
	if err != nil {
		return err
	}
	if r.Status != wantStatus {
		return fmt.Errorf("status %d", r.Status)
	}
	if wantStep != "" {
		if got := step(r.Body); got != wantStep {
			return fmt.Errorf("step %q instead of %s", got, wantStep)
		}
	}
	return nil
}

// recoveryForm is the hidden part of every recovery form.
func (b *browser) recoveryForm(pop string) url.Values {
	return url.Values{"_csrf": {b.csrf}, "kind": {"password"}, "population": {pop}}
}
