package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	opOIDCAuthorize = "OIDC authorization (browser: /oidc/authorize → /oidc/login → callback → code)"
	opOIDCToken     = "OIDC POST /oidc/token (code exchange)"
	opOIDCUserinfo  = "OIDC GET /oidc/userinfo"
	// The bench school's confidential client (bench/school.yaml).
	oidcClient   = "portail"
	oidcSecret   = "bench-secret-not-for-production"
	oidcRedirect = "https://portail.bench.example/oauth2/callback"
)

// oidcResult is the OpenID Connect phase's figures: each request's rate
// and latencies, and the server's CPU time per request, measured on its
// own sub-phase.
type oidcResult struct {
	Authorize, Token, Userinfo          summary
	CPUAuthorize, CPUToken, CPUUserinfo time.Duration
}

// runOIDC measures what an application signing people in through Sésame
// costs it, in three sub-phases of dur each, so that the server's CPU time
// (from /proc/<pid>/stat) is per request: conc people, signed in once,
// have their browsers go through authorization requests (single sign-on:
// three hops to a code); the application's server exchanges those codes
// (client_secret_basic, as Nextcloud and Moodle do); then it calls
// userinfo with the access tokens it got, in a loop.
func runOIDC(sv *server, sd *schoolData, al *allocator, conc int, dur time.Duration) (oidcResult, error) {
	rt := newTransport(conc)
	people := make([]*browser, conc)
	for i := range people {
		b := newBrowser(sv.URL, rt)
		r, err := b.do(http.MethodGet, "/", nil, false)
		if err != nil || !b.readCSRF(r) {
			return oidcResult{}, fmt.Errorf("oidc: login page: %v", err)
		}
		idx, pw, ok := al.signIn()
		if !ok {
			return oidcResult{}, fmt.Errorf("oidc: no account to sign in with")
		}
		r, err = b.do(http.MethodPost, "/login", url.Values{"_csrf": {b.csrf}, "identifier": {sd.people[idx].Identifier}, "password": {pw}}, false)
		if err != nil || r.Status != http.StatusSeeOther {
			return oidcResult{}, fmt.Errorf("oidc: sign-in: status %d, %v", r.Status, err)
		}
		people[i] = b
	}
	var res oidcResult

	// The browsers: authorization requests until dur, each ending on the
	// application's redirect with a code.
	rec := newRecorder()
	var mu sync.Mutex
	var codes []string
	cpu := cpuTime(sv.Pid())
	deadline := time.Now().Add(dur)
	rec.begin()
	var wg sync.WaitGroup
	for w, b := range people {
		wg.Go(func() {
			for n := 0; time.Now().Before(deadline); n++ {
				start := time.Now()
				code, status, err := authorize(b, fmt.Sprintf("s%d-%d", w, n))
				if err != nil {
					rec.fail(opOIDCAuthorize, time.Since(start), status, err.Error())
					continue
				}
				rec.ok(opOIDCAuthorize, time.Since(start))
				mu.Lock()
				codes = append(codes, code)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	rec.stop()
	res.Authorize = rec.summary(opOIDCAuthorize)
	res.CPUAuthorize = perFlow(cpuTime(sv.Pid())-cpu, res.Authorize.N)

	// The application's server: each code exchanged once, conc at a time,
	// in the order they were issued (a code lives a minute), for at most
	// dur.
	app := &http.Client{Transport: rt, Timeout: 60 * time.Second}
	rec = newRecorder()
	var tokens []string
	next := make(chan string)
	cpu = cpuTime(sv.Pid())
	deadline = time.Now().Add(dur)
	rec.begin()
	for range conc {
		wg.Go(func() {
			for code := range next {
				start := time.Now()
				tok, status, err := exchangeCode(app, sv.URL, code)
				if err != nil {
					rec.fail(opOIDCToken, time.Since(start), status, err.Error())
					continue
				}
				rec.ok(opOIDCToken, time.Since(start))
				mu.Lock()
				tokens = append(tokens, tok)
				mu.Unlock()
			}
		})
	}
	for _, c := range codes {
		if time.Now().After(deadline) {
			break
		}
		next <- c
	}
	close(next)
	wg.Wait()
	rec.stop()
	res.Token = rec.summary(opOIDCToken)
	res.CPUToken = perFlow(cpuTime(sv.Pid())-cpu, res.Token.N)
	if len(tokens) == 0 {
		return res, fmt.Errorf("oidc: no code was exchanged (%s)", res.Token.TopErr)
	}

	// The application reads the person's claims: userinfo with the access
	// tokens, in a loop, for dur.
	rec = newRecorder()
	cpu = cpuTime(sv.Pid())
	deadline = time.Now().Add(dur)
	rec.begin()
	for w := range conc {
		wg.Go(func() {
			for n := w; time.Now().Before(deadline); n += conc {
				start := time.Now()
				status, err := userinfo(app, sv.URL, tokens[n%len(tokens)])
				if err != nil {
					rec.fail(opOIDCUserinfo, time.Since(start), status, err.Error())
					continue
				}
				rec.ok(opOIDCUserinfo, time.Since(start))
			}
		})
	}
	wg.Wait()
	rec.stop()
	res.Userinfo = rec.summary(opOIDCUserinfo)
	res.CPUUserinfo = perFlow(cpuTime(sv.Pid())-cpu, res.Userinfo.N)
	return res, nil
}

// authorize is one authorization request of the application's, from a
// signed-in browser: op's redirect to the sign-in step, Sésame's to op's
// callback (single sign-on, no page), and op's to the application with a
// code.
func authorize(b *browser, state string) (code string, status int, err error) {
	q := url.Values{"client_id": {oidcClient}, "redirect_uri": {oidcRedirect}, "response_type": {"code"},
		"scope": {"openid profile email groups"}, "state": {state}, "nonce": {"n-" + state}}
	path := "/oidc/authorize?" + q.Encode()
	for hop := 0; hop < 3; hop++ {
		r, err := b.do(http.MethodGet, path, nil, false)
		if err != nil {
			return "", 0, err
		}
		if r.Status != http.StatusFound && r.Status != http.StatusSeeOther {
			return "", r.Status, fmt.Errorf("hop %d: status %d", hop+1, r.Status)
		}
		loc := r.Header.Get("Location")
		if rest, ok := strings.CutPrefix(loc, oidcRedirect+"?"); ok {
			back, _ := url.ParseQuery(rest)
			if back.Get("state") != state || back.Get("code") == "" {
				return "", r.Status, fmt.Errorf("back without a code: %.80s", rest)
			}
			return back.Get("code"), r.Status, nil
		}
		u, err := url.Parse(loc)
		if err != nil || (u.Host != "" && !strings.HasPrefix(loc, b.base)) {
			return "", r.Status, fmt.Errorf("hop %d: sent to %.80s", hop+1, loc)
		}
		path = u.RequestURI()
	}
	return "", 0, fmt.Errorf("no code after 3 hops")
}

// exchangeCode is the application's token request.
func exchangeCode(c *http.Client, base, code string) (string, int, error) {
	form := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {oidcRedirect}}
	req, err := http.NewRequest(http.MethodPost, base+"/oidc/token", strings.NewReader(form.Encode()))
	if err != nil {
		return "", 0, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(oidcClient), url.QueryEscape(oidcSecret))
	resp, err := c.Do(req)
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		IDToken     string `json:"id_token"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return "", resp.StatusCode, fmt.Errorf("status %d: %.80s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &tok); err != nil || tok.AccessToken == "" || tok.IDToken == "" {
		return "", resp.StatusCode, fmt.Errorf("no tokens: %.80s", body)
	}
	return tok.AccessToken, resp.StatusCode, nil
}

// userinfo is the application's userinfo request.
func userinfo(c *http.Client, base, token string) (int, error) {
	req, err := http.NewRequest(http.MethodGet, base+"/oidc/userinfo", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var info struct {
		Sub string `json:"sub"`
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, fmt.Errorf("status %d: %.80s", resp.StatusCode, body)
	}
	if err := json.Unmarshal(body, &info); err != nil || info.Sub == "" {
		return resp.StatusCode, fmt.Errorf("no sub: %.80s", body)
	}
	return resp.StatusCode, nil
}
