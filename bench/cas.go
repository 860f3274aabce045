package main

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

const (
	opCASLogin    = "CAS GET /cas/login (ticket issued)"
	opCASValidate = "CAS GET /cas/p3/serviceValidate"
	casService    = "https://pronote.bench.example/pronote/parent.html?fd=1"
)

// casResult is the CAS phase's figures.
type casResult struct {
	Login, Validate summary
}

// runCAS signs conc people in, then, for dur, each asks /cas/login for a
// ticket (single sign-on: no password) and validates it as Pronote does,
// from its own server: the two requests every visit to a CAS application
// costs Sésame.
func runCAS(sv *server, sd *schoolData, al *allocator, conc int, dur time.Duration) (casResult, error) {
	rt := newTransport(conc)
	people := make([]*browser, conc)
	for i := range people {
		b := newBrowser(sv.URL, rt)
		r, err := b.do(http.MethodGet, "/", nil, false)
		if err != nil || !b.readCSRF(r) {
			return casResult{}, fmt.Errorf("cas: login page: %v", err)
		}
		idx, pw, ok := al.signIn()
		if !ok {
			return casResult{}, fmt.Errorf("cas: no account to sign in with")
		}
		r, err = b.do(http.MethodPost, "/login", url.Values{"_csrf": {b.csrf}, "identifier": {sd.people[idx].Identifier}, "password": {pw}}, false)
		if err != nil || r.Status != http.StatusSeeOther {
			return casResult{}, fmt.Errorf("cas: sign-in: status %d, %v", r.Status, err)
		}
		people[i] = b
	}
	rec := newRecorder()
	login := casLoginPath()
	deadline := time.Now().Add(dur)
	rec.begin()
	var wg sync.WaitGroup
	for _, b := range people {
		wg.Go(func() {
			// The application's validations come from its own server: no
			// cookies.
			app := newBrowser(sv.URL, rt)
			for time.Now().Before(deadline) {
				var ticket string
				_, ok := timed(rec, opCASLogin, func() (response, error) { return b.do(http.MethodGet, login, nil, false) },
					func(r response) error {
						loc := r.Header.Get("Location")
						if r.Status != http.StatusSeeOther || !strings.HasPrefix(loc, casService+"&ticket=ST-") {
							return fmt.Errorf("status %d to %q", r.Status, loc)
						}
						ticket = strings.TrimPrefix(loc, casService+"&ticket=")
						return nil
					})
				if !ok {
					continue
				}
				q := url.Values{"service": {casService}, "ticket": {ticket}}
				timed(rec, opCASValidate, func() (response, error) {
					return app.do(http.MethodGet, "/cas/p3/serviceValidate?"+q.Encode(), nil, false)
				}, func(r response) error {
					if r.Status != http.StatusOK || !strings.Contains(r.Body, "<cas:authenticationSuccess>") {
						return fmt.Errorf("status %d: %.80s", r.Status, r.Body)
					}
					return nil
				})
			}
		})
	}
	wg.Wait()
	rec.stop()
	return casResult{Login: rec.summary(opCASLogin), Validate: rec.summary(opCASValidate)}, nil
}

func casLoginPath() string {
	return "/cas/login?" + url.Values{"service": {casService}}.Encode()
}
