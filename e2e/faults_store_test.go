package e2e

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sesame-edu/sesame/server/mail/mailtest"
)

// 3. The store unreachable, then back.

// TestFaultStoreUnreachable guarantees that when the database cannot be
// reached, /readyz answers 503 and pages that need it answer a friendly
// 503 « Service momentanément indisponible » (in English for English
// browsers) within a bounded time, never a raw error; and that once a
// database answers again on the same address with the same files,
// everything works without restarting the application: /readyz 200, a
// flow started before the outage continues, a new request succeeds.
func TestFaultStoreUnreachable(t *testing.T) {
	t.Parallel()
	dbDir := t.TempDir()
	fdb, fdbAddr := startFerret(t, dbDir)
	proxy := startProxy(t, "127.0.0.1:0", fdbAddr)
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{faultConfig, "SESAME_SMTP_URL=" + smtp.URL.String(), "SESAME_MONGODB_URI=mongodb://" + proxy.Addr() + "/"}
	importAccounts(t, dataDir, faultAccounts(2), env...)
	srv := startInstance(t, freePort(t), dataDir, env...)
	waitReady(t, srv.URL, 200, 5*time.Second)

	// A flow in progress before the outage.
	v := newVisitor(t, "fr")
	v.requestCode(srv.URL, faultID(1))
	code1, _ := codeOf(t, waitMails(t, smtp, faultMail(1), 1, 10*time.Second)[0])
	fr, en := newVisitor(t, "fr-FR,fr;q=0.9"), newVisitor(t, "en")
	fr.csrfFrom(srv.URL)
	en.csrfFrom(srv.URL)

	// The outage: the network to the database is cut and the server stops.
	proxy.SetTarget("")
	fdb.Stop()
	waitReady(t, srv.URL, 503, 5*time.Second)

	checks := []struct {
		name  string
		do    func() (page, error)
		title string
	}{
		{"step 1 in French", func() (page, error) { return fr.tryPost(srv.URL+"/recovery/request", requestForm(faultID(2))) }, "Service momentanément indisponible"},
		{"step 1 in English", func() (page, error) { return en.tryPost(srv.URL+"/recovery/request", requestForm(faultID(2))) }, "Service temporarily unavailable"},
		{"the flow in progress", func() (page, error) { return v.tryGet(srv.URL + "/recovery") }, "Service momentanément indisponible"},
		{"the code", func() (page, error) {
			return v.tryPost(srv.URL+"/recovery/code", url.Values{"kind": {"password"}, "population": {"parents"}, "code": {code1}})
		}, "Service momentanément indisponible"},
	}
	var wg sync.WaitGroup
	results := make([]page, len(checks))
	errs := make([]error, len(checks))
	for i, c := range checks {
		wg.Go(func() { results[i], errs[i] = c.do() })
	}
	// The login page with a flow in progress: its form needs no store, so
	// it may show without the flow (200) or say 503, never a raw 500.
	var login page
	var loginErr error
	wg.Go(func() { login, loginErr = v.tryGet(srv.URL + "/") })
	wg.Wait()
	switch {
	case loginErr != nil:
		t.Errorf("the login page during the outage: %v", loginErr)
	case login.Status != 200 && login.Status != 503, login.Took > 12*time.Second:
		t.Errorf("the login page with a flow in progress during the outage: want 200 or 503 promptly, got %s in %s", login, login.Took)
	default:
		t.Logf("the login page with a flow in progress during the outage: %d (step %q) in %s", login.Status, login.Step(), login.Took.Round(time.Millisecond))
	}
	for i, c := range checks {
		p, err := results[i], errs[i]
		switch {
		case err != nil:
			t.Errorf("%s during the outage: %v", c.name, err)
		case p.Status != 503:
			t.Errorf("%s during the outage: want 503, got %s", c.name, p)
		case !strings.Contains(p.Doc.Find("h1").Text(), c.title):
			t.Errorf("%s during the outage: want the page « %s », got %s", c.name, c.title, p)
		case p.Header.Get("Retry-After") == "":
			t.Errorf("%s during the outage: 503 without Retry-After", c.name)
		case p.Took > 12*time.Second:
			t.Errorf("%s during the outage took %s", c.name, p.Took)
		}
		if err == nil {
			t.Logf("%s during the outage: %d in %s", c.name, p.Status, p.Took.Round(time.Millisecond))
		}
	}

	// A new server on the same address (the proxy's) and the same files.
	_, fdbAddr2 := startFerret(t, dbDir)
	proxy.SetTarget(fdbAddr2)
	start := time.Now()
	waitReady(t, srv.URL, 200, 20*time.Second)
	t.Logf("ready again %s after the database came back", time.Since(start).Round(time.Millisecond))

	if p := v.get(srv.URL + "/"); p.Step() != "code" {
		t.Fatalf("the flow started before the outage: want step 2, got %s", p)
	}
	if p := v.enterCode(srv.URL, "", code1); p.Step() != "password" {
		t.Fatalf("the code mailed before the outage: want step 3, got %s", p)
	}
	if p := fr.post(srv.URL+"/recovery/request", requestForm(faultID(2))); p.Status != 200 || p.Step() != "code" {
		t.Fatalf("step 1 after the outage: want step 2, got %s", p)
	}
	waitMails(t, smtp, faultMail(2), 1, 10*time.Second)
}

// TestFaultStoreNetworkHang guarantees the same when the network to the
// database drops packets instead of refusing connections: requests do not
// hang with the database; /readyz says 503 within its 2 s, pages say 503
// « Service momentanément indisponible » within the driver's 10 s timeout;
// when the network heals, everything works again without a restart.
func TestFaultStoreNetworkHang(t *testing.T) {
	t.Parallel()
	_, fdbAddr := startFerret(t, t.TempDir())
	proxy := startProxy(t, "127.0.0.1:0", fdbAddr)
	smtp := mailtest.Start(t)
	dataDir := t.TempDir()
	env := []string{faultConfig, "SESAME_SMTP_URL=" + smtp.URL.String(), "SESAME_MONGODB_URI=mongodb://" + proxy.Addr() + "/"}
	importAccounts(t, dataDir, faultAccounts(2), env...)
	srv := startInstance(t, freePort(t), dataDir, env...)
	waitReady(t, srv.URL, 200, 5*time.Second)
	v := newVisitor(t, "fr")
	v.requestCode(srv.URL, faultID(1))
	code1, _ := codeOf(t, waitMails(t, smtp, faultMail(1), 1, 10*time.Second)[0])
	fr := newVisitor(t, "fr")
	fr.csrfFrom(srv.URL)

	proxy.Hang()
	var (
		wg             sync.WaitGroup
		ready          int
		readyTook      time.Duration
		step1, current page
		err1, err2     error
	)
	wg.Go(func() {
		start := time.Now()
		ready, _, _ = getReadyz(srv.URL)
		readyTook = time.Since(start)
	})
	wg.Go(func() { step1, err1 = fr.tryPost(srv.URL+"/recovery/request", requestForm(faultID(2))) })
	wg.Go(func() { current, err2 = v.tryGet(srv.URL + "/recovery") })
	wg.Wait()
	if ready != 503 || readyTook > 3*time.Second {
		t.Errorf("/readyz during the partition: %d after %s, want 503 within 3 s", ready, readyTook)
	}
	for _, r := range []struct {
		name string
		p    page
		err  error
	}{{"step 1", step1, err1}, {"the flow in progress", current, err2}} {
		switch {
		case r.err != nil:
			t.Errorf("%s during the partition: %v", r.name, r.err)
		case r.p.Status != 503 || !strings.Contains(r.p.Doc.Find("h1").Text(), "Service momentanément indisponible"):
			t.Errorf("%s during the partition: want 503 « Service momentanément indisponible », got %s", r.name, r.p)
		case r.p.Took > 12*time.Second:
			t.Errorf("%s during the partition took %s", r.name, r.p.Took)
		default:
			t.Logf("%s during the partition: %d in %s", r.name, r.p.Status, r.p.Took.Round(time.Millisecond))
		}
	}

	proxy.Resume()
	start := time.Now()
	waitReady(t, srv.URL, 200, 20*time.Second)
	t.Logf("ready again %s after the network healed", time.Since(start).Round(time.Millisecond))
	if p := v.enterCode(srv.URL, "", code1); p.Step() != "password" {
		t.Fatalf("the code mailed before the partition: want step 3, got %s", p)
	}
	if p := fr.post(srv.URL+"/recovery/request", requestForm(faultID(2))); p.Status != 200 || p.Step() != "code" {
		t.Fatalf("step 1 after the partition: want step 2, got %s", p)
	}
	waitMails(t, smtp, faultMail(2), 1, 10*time.Second)
}
