package web_test

import (
	"context"
	"fmt"
	"io"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/keys"
	"github.com/sesame-edu/sesame/server/paths"
	"github.com/sesame-edu/sesame/server/web"
)

// Enumeration by timing: an attacker who sends step 1 of the recovery, or
// a sign-in with a wrong password, for identifiers that exist and for
// identifiers that do not, must not be able to tell the two apart by how
// long the answers take.
//
// Each test sends interleaved requests in a shuffled order, balanced in
// every batch of 50 (so that drift over the run — the mail worker, the
// periodic scans, other processes on the machine — falls on both groups
// alike), each from a fresh browser,
// and compares the two latency distributions by their medians and by a
// Mann-Whitney U test. Only ranks and ratios are used, never absolute
// thresholds, so that the result does not depend on the machine's speed.
// Between requests, outside the measurement, the collections that grow
// with every request are purged (purge) and a recovery request's
// background lookup is awaited (settleRecovery).

const (
	timingAccounts = 500  // existing identifiers; as many unknown ones
	timingRequests = 1000 // measured requests per sample, half of each kind
	timingWarmup   = 100  // first requests, not measured
)

// skipTiming skips the timing tests in -short mode, and under the race
// detector, where one step-1 request costs ~100× more (a run took over 7
// minutes) and the latencies measure the instrumentation.
//
// It also lets the three timing tests run at once: each has its own
// server, store and SMTP server, and two of them spend most of their time
// waiting out the refusal floor (25 ms a request, 3 ms of it work), which
// left a core idle for a minute when they ran one after the other. What
// one test's requests cost the other's falls on both kinds of input alike
// (the plans are shuffled within balanced batches), so it widens the
// spread without telling the kinds apart; the sign-in floor keeps a margin
// of about 20 ms over the work.
func skipTiming(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("timing: about 35 s of requests")
	}
	if raceDetector {
		t.Skip("timing: meaningless and too slow under -race; run go test -run TestTiming ./server/web/")
	}
	t.Parallel()
}

// timingParams is the test apps' cheap argon2id.
var timingParams = account.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// seedTiming saves n active parents T0000… with their own addresses, all
// with one hash made by hasher (a hash per account would only slow the
// seeding; Verify costs the same for any hash of the same parameters).
func seedTiming(t *testing.T, a *testApp, hasher *account.Hasher, n int) {
	t.Helper()
	hash, err := hasher.Hash(annePassword)
	if err != nil {
		t.Fatal(err)
	}
	old := time.Now().Add(-24 * time.Hour)
	for i := range n {
		acc := account.Account{
			ID: fmt.Sprintf("t%04d", i), Identifier: fmt.Sprintf("T%04d", i), Email: fmt.Sprintf("t%04d@example.fr", i),
			FirstName: "Camille", LastName: "Martin", Population: "parents", Status: account.StatusActive,
			PasswordHash: hash, PasswordSetBy: account.SetByImport, CreatedAt: old, UpdatedAt: old,
		}
		if err := a.st.Accounts().SaveAccount(context.Background(), acc, ""); err != nil {
			t.Fatal(err)
		}
	}
}

// probe is one request of a plan: an existing or unknown identifier.
type probe struct {
	existing   bool
	identifier string
}

// timingPlan is the order of requests: warm-up first, then
// timingRequests/2 of each kind, each identifier used at most
// ceil(requests/accounts) times.
func timingPlan(seed uint64) []probe {
	var plan []probe
	for i := range (timingRequests + timingWarmup) / 2 {
		plan = append(plan,
			probe{true, fmt.Sprintf("T%04d", i%timingAccounts)},
			probe{false, fmt.Sprintf("U%04d", i%timingAccounts)})
	}
	return blockShuffle(plan, seed)
}

// blockShuffle shuffles a plan made of (existing, unknown) pairs within
// each batch of timingBatch requests.
func blockShuffle(plan []probe, seed uint64) []probe {
	r := mrand.New(mrand.NewPCG(seed, seed))
	// Shuffled within each batch between two purges (blocked
	// randomisation): every batch holds as many requests of each kind, so
	// the collections refilling after a purge, and load from other
	// processes that comes and goes, weigh on both kinds alike. Within a
	// batch the order is random, so the request after an existing
	// account's (whose mail is still being sent) is of either kind.
	for b := 0; b < len(plan); b += timingBatch {
		batch := plan[b:min(b+timingBatch, len(plan))]
		r.Shuffle(len(batch), func(i, j int) { batch[i], batch[j] = batch[j], batch[i] })
	}
	return plan
}

// timingSignInOptions are production's sign-in, except that the throttles
// per source and per account (from every source) never trigger: every
// request comes from one address. Per identifier and source, at most 3
// failures: under the 5 free. The hash is the timing tests' (see
// timingParams), for the stored hashes and the app's alike.
func timingSignInOptions(o *app.Options) {
	o.Throttles = app.Throttles{PerAccountSource: 5, PerAccount: 1 << 30, PerSource: 1 << 30}
	o.FailureFloor = timingFloor
	o.Hash = timingParams
}

// freshBrowser is a new browser with its CSRF cookie and form token, made
// the way the server makes them, without loading a page first.
func freshBrowser(a *testApp, guard *web.CSRFGuard) (*testApp, string) {
	b := a.browser()
	cookie := guard.Mint()
	b.jar[guard.CookieName()] = cookie
	return b, guard.Token(cookie)
}

// timingBatch is how many requests go between two purges.
const timingBatch = 50

// purge empties, between two batches and outside any measurement, the
// collections every request adds to, after the dispatcher has caught up.
// The embedded store scans a whole collection for every lookup, so
// without it each request would cost more than the one before (about
// 55 ms instead of 10 at the end of a run): the test would take minutes
// and the growing background work would drown the signal in noise. Both
// kinds of request see the same purged collections; the accounts, whose
// lookup is what could differ, are never purged.
func purge(t *testing.T, a *testApp) {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := a.st.DB().Collection("recovery_flows").CountDocuments(ctx, bson.D{{Key: "pending", Value: true}})
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, c := range []string{"recovery_flows", "rate_limits", "claims", "throttle", "audit", "mail_outbox", "mail_outbox_claims", "mail_outbox_log"} {
		if _, err := a.st.DB().Collection(c).DeleteMany(ctx, bson.D{}); err != nil {
			t.Fatal(err)
		}
	}
}

// settleRecovery waits, after a step-1 request, until the dispatcher has
// processed its flow: looked the input up and, for an existing account,
// drawn the code and queued its mail (the mail worker's delivery goes on
// in the background, over later requests of both kinds). The embedded
// store serialises writes, so a request that meets the background writes
// of the previous ones waits for SQLite's lock: without this wait the
// latencies mostly measured which requests came before (p90 50 ms for a
// 3 ms median), an effect the shuffle spreads evenly over both kinds but
// whose noise would hide a real difference. What the dispatcher does while
// the request itself is still being answered stays inside the measurement.
func settleRecovery(t *testing.T, a *testApp, b *testApp) {
	t.Helper()
	ctx := context.Background()
	id, _, _ := strings.Cut(b.jar["sesame_recovery"], ".")
	if id == "" {
		t.Fatal("step 1 set no flow cookie")
	}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		// By _id, in a collection purged every timingBatch requests.
		f, err := a.st.Flows().GetFlow(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if !f.Pending {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatalf("flow %s still pending after 10 s", id)
}

// measure sends each request of plan and returns the latencies, in
// microseconds, of the two kinds, after the warm-up. settle, if not nil,
// is called after each request, outside the measurement.
func measure(t *testing.T, a *testApp, plan []probe, build func(p probe, token string) *http.Request, check func(p probe, resp *http.Response), settle func(b *testApp)) (existing, unknown []float64) {
	t.Helper()
	guard := web.NewCSRFGuard(keys.Derive([]byte("test-secret-test-secret-test-secret"), "csrf"), false)
	for i, p := range plan {
		if i%timingBatch == 0 {
			purge(t, a)
		}
		b, token := freshBrowser(a, guard)
		req := build(p, token)
		start := time.Now()
		resp := b.do(req)
		_, _ = io.Copy(io.Discard, resp.Body)
		d := float64(time.Since(start).Microseconds())
		resp.Body.Close()
		check(p, resp)
		if settle != nil {
			settle(b)
		}
		if i < timingWarmup {
			continue
		}
		if p.existing {
			existing = append(existing, d)
		} else {
			unknown = append(unknown, d)
		}
	}
	return existing, unknown
}

func formRequest(path string, form url.Values) *http.Request {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return req
}

// differ reports the two distributions and which kind, if either, is
// told apart as the slower: +1 the existing inputs, -1 the unknown ones, 0
// neither. A sample tells them apart when a Mann-Whitney U test is
// significant at p < 0.01 with medians at least 1 % apart. With 500 requests of each kind the rank
// test sees shifts of a tenth of a millisecond in a 26 ms answer (0.5 %,
// measured once on a busy machine, the unknown addresses the slower), far
// below what a network's jitter lets anyone measure; a lookup that only one
// kind makes costs several percent here, and TestSameWorkWhateverTheInput
// counts those exactly. A gap between medians alone is not evidence: on a
// loaded 2-core machine (answers from 2 to 8 ms) CI saw 5.8 % gaps with
// p = 0.47 and 0.12, one each way.
func differ(t testing.TB, what string, existing, unknown []float64) int {
	t.Helper()
	mE, mU := median(existing), median(unknown)
	res := mannWhitneyU(existing, unknown)
	gap := math.Abs(mE-mU) / math.Min(mE, mU)
	slower := res.U1 / float64(len(existing)*len(unknown))
	t.Logf("%s: n = %d + %d; median existing %.0f µs, unknown %.0f µs (gap %.1f %%); p10/p90 existing %.0f/%.0f, unknown %.0f/%.0f µs",
		what, len(existing), len(unknown), mE, mU, 100*gap,
		quantile(existing, 0.1), quantile(existing, 0.9), quantile(unknown, 0.1), quantile(unknown, 0.9))
	t.Logf("%s: Mann-Whitney U = %.0f (U existing = %.0f of %d), z = %.2f, two-sided p = %.4f; P(existing slower) = %.3f",
		what, res.U, res.U1, len(existing)*len(unknown), res.Z, res.P, slower)
	if !(res.P < 0.01 && gap > 0.01) {
		return 0
	}
	if slower > 0.5 {
		return 1
	}
	return -1
}

// indistinguishable fails t when two independent samples (sample(1) and
// sample(2), each with its own shuffled order) both tell the two kinds
// apart, the same kind the slower. A real difference shows in both, the
// same way; chance alone does so in one check in twenty thousand
// (p < 0.01 twice, halved for the direction), so the suite does not fail
// by chance. The second sample is taken only when the first differs.
// TestSameWorkWhateverTheInput (samework_test.go) counts the same property
// without statistics.
func indistinguishable(t testing.TB, what string, sample func(seed uint64) (existing, unknown []float64)) {
	t.Helper()
	first := 0
	for seed := uint64(1); seed <= 2; seed++ {
		start := time.Now()
		existing, unknown := sample(seed)
		t.Logf("%s: sample %d took %v", what, seed, time.Since(start).Round(time.Millisecond))
		d := differ(t, what, existing, unknown)
		if d == 0 || seed == 2 && d != first {
			return
		}
		first = d
	}
	t.Errorf("%s: two samples in a row tell existing and unknown inputs apart, the same kind the slower (see the figures above)", what)
}

// TestTimingRecoveryRequest: step 1 of the recovery does the same work
// on the request path whatever the input (recovery.Service.Start: one
// rate-limit hit, one insert, one audit record); the lookup, the code and
// the mail happen in the dispatcher.
func TestTimingRecoveryRequest(t *testing.T) {
	skipTiming(t)
	a := newTestApp(t, func(o *app.Options) {
		// One client sends every request here; the per-identifier limit
		// (5 an hour) is what must never trigger, and it does not: each
		// identifier is asked for at most three times.
		o.School.Recovery.RequestsPerIPHour = 1 << 30
	})
	seedTiming(t, a, account.NewHasher(timingParams, 1), timingAccounts)
	indistinguishable(t, "recovery step 1", func(seed uint64) ([]float64, []float64) {
		return measure(t, a, timingPlan(10+seed),
			func(p probe, token string) *http.Request {
				return formRequest(paths.RecoveryRequest, url.Values{csrfField: {token}, "kind": {"password"}, "population": {"parents"}, "input": {p.identifier}, "consent": {"yes"}})
			},
			func(p probe, resp *http.Response) {
				// Accepted without JavaScript: 303 to the page of step 2.
				if resp.StatusCode != http.StatusSeeOther {
					t.Fatalf("%s: status %d (a limit triggered: the two paths would differ)", p.identifier, resp.StatusCode)
				}
			},
			func(b *testApp) { settleRecovery(t, a, b) })
	})
}

// TestTimingSignIn: a wrong password costs one argon2id derivation
// whether or not the identifier exists (Verify against the stored hash,
// or Burn). The hasher here is the test apps' cheap one (1 MiB, t = 1),
// not account.DefaultParams() (19 MiB, t = 2, about 2,000 × 40 ms = 80 s
// here): both paths derive exactly once with the same parameters — the
// stored hashes are made by the same hasher, as in production once every
// hash is current — so a costlier hash adds the same time to both and
// only dilutes whatever else differs (the account lookup, the audit
// record). The cheap hash makes this test stricter, not weaker.
func TestTimingSignIn(t *testing.T) {
	skipTiming(t)

	hasher := account.NewHasher(timingParams, 2)
	a := newTestApp(t, timingSignInOptions)
	seedTiming(t, a, hasher, timingAccounts)
	indistinguishable(t, "sign-in, wrong password", func(seed uint64) ([]float64, []float64) {
		return measure(t, a, timingPlan(20+seed),
			func(p probe, token string) *http.Request {
				return formRequest(paths.Login, url.Values{csrfField: {token}, "identifier": {p.identifier}, "password": {"wrong-password-42"}})
			},
			func(p probe, resp *http.Response) {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d (throttled: the two paths would differ)", p.identifier, resp.StatusCode)
				}
			}, nil)
	})
	if t.Failed() {
		logLookupCosts(t, a)
	}
}

// logLookupCosts shows where the sign-in's time differs: one account
// lookup, by _id, for the first and last accounts saved and for a missing
// one, against one argon2id derivation.
func logLookupCosts(t *testing.T, a *testApp) {
	t.Helper()
	ctx := context.Background()
	for _, id := range []string{"t0000", fmt.Sprintf("t%04d", timingAccounts/2), fmt.Sprintf("t%04d", timingAccounts-1), "u0000"} {
		var d []float64
		for range 30 {
			start := time.Now()
			_, _ = a.st.Accounts().GetAccount(ctx, id)
			d = append(d, float64(time.Since(start).Microseconds()))
		}
		t.Logf("GetAccount(%q): median %.0f µs", id, median(d))
	}
	for _, p := range []account.Params{timingParams, account.DefaultParams()} {
		h := account.NewHasher(p, 1)
		var d []float64
		for range 5 {
			start := time.Now()
			h.Burn("wrong-password-42")
			d = append(d, float64(time.Since(start).Microseconds()))
		}
		t.Logf("one argon2id derivation, m=%d KiB t=%d: median %.0f µs", p.Memory, p.Time, median(d))
	}
}

// TestTimingSignInSharedEmail: signing in with an address shared by two
// accounts (a parent of two children) derives a hash per account, twice
// the work of an unknown address (one Burn): the time tells which
// addresses belong to a family with several accounts.
func TestTimingSignInSharedEmail(t *testing.T) {
	skipTiming(t)

	hasher := account.NewHasher(timingParams, 2)
	a := newTestApp(t, timingSignInOptions)
	hash, _ := hasher.Hash(annePassword)
	old := time.Now().Add(-24 * time.Hour)
	const families = 150
	for i := range families {
		for _, child := range []string{"a", "b"} {
			acc := account.Account{
				ID: fmt.Sprintf("f%03d%s", i, child), Identifier: fmt.Sprintf("F%03d%s", i, child), Email: fmt.Sprintf("famille%03d@example.fr", i),
				FirstName: "Camille", LastName: "Martin", Population: "parents", Status: account.StatusActive,
				PasswordHash: hash, PasswordSetBy: account.SetByImport, CreatedAt: old, UpdatedAt: old,
			}
			if err := a.st.Accounts().SaveAccount(context.Background(), acc, ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	var plan []probe
	for i := range 2 * families {
		plan = append(plan,
			probe{true, fmt.Sprintf("famille%03d@example.fr", i%families)},
			probe{false, fmt.Sprintf("inconnu%03d@example.fr", i%families)})
	}
	indistinguishable(t, "sign-in with a shared address, wrong password", func(seed uint64) ([]float64, []float64) {
		return measure(t, a, blockShuffle(slices.Clone(plan), 30+seed),
			func(p probe, token string) *http.Request {
				return formRequest(paths.Login, url.Values{csrfField: {token}, "identifier": {p.identifier}, "password": {"wrong-password-42"}})
			},
			func(p probe, resp *http.Response) {
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: status %d", p.identifier, resp.StatusCode)
				}
			}, nil)
	})
}

func median(x []float64) float64 { return quantile(x, 0.5) }

// quantile interpolates linearly between order statistics.
func quantile(x []float64, q float64) float64 {
	s := slices.Clone(x)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (pos-float64(lo))*(s[hi]-s[lo])
}

// mwu is the outcome of a Mann-Whitney U test.
type mwu struct {
	U1, U float64 // U of the first sample; the smaller of U1 and U2
	Z, P  float64 // normal approximation with continuity correction; two-sided p
	Var   float64 // variance of U under the null, corrected for ties
}

// mannWhitneyU compares x and y by ranks: U1 counts the pairs where x is
// larger (ties count half). Under the null hypothesis of one distribution,
// U1 is about normal with mean n1·n2/2 and variance
// n1·n2/12 · ((n+1) − Σ(t³−t)/(n(n−1))), t running over the sizes of
// groups of tied values.
func mannWhitneyU(x, y []float64) mwu {
	type obs struct {
		v     float64
		first bool
	}
	n1, n2 := float64(len(x)), float64(len(y))
	all := make([]obs, 0, len(x)+len(y))
	for _, v := range x {
		all = append(all, obs{v, true})
	}
	for _, v := range y {
		all = append(all, obs{v, false})
	}
	slices.SortFunc(all, func(a, b obs) int {
		switch {
		case a.v < b.v:
			return -1
		case a.v > b.v:
			return 1
		}
		return 0
	})
	var r1, ties float64
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // ranks i+1 … j, averaged
		for k := i; k < j; k++ {
			if all[k].first {
				r1 += rank
			}
		}
		tcount := float64(j - i)
		ties += tcount*tcount*tcount - tcount
		i = j
	}
	n := n1 + n2
	u1 := r1 - n1*(n1+1)/2
	res := mwu{U1: u1, U: math.Min(u1, n1*n2-u1)}
	res.Var = n1 * n2 / 12 * ((n + 1) - ties/(n*(n-1)))
	if res.Var <= 0 {
		res.P = 1 // every value tied: nothing tells the samples apart
		return res
	}
	d := u1 - n1*n2/2
	res.Z = math.Copysign(math.Max(math.Abs(d)-0.5, 0), d) / math.Sqrt(res.Var)
	res.P = math.Erfc(math.Abs(res.Z) / math.Sqrt2)
	return res
}

// TestMannWhitneyU checks the statistic on cases worked by hand.
func TestMannWhitneyU(t *testing.T) {
	// x = 1 2 2 3, y = 2 3 4 5: ranks 1, 3 3 3, 5.5 5.5, 7, 8; R1 = 12.5,
	// U1 = 2.5; ties 3 and 2: Var = 16/12 · (9 − 30/56) = 11.2857;
	// z = (5.5 − 0.5)/3.3594 = 1.488, p = 0.1366 (R's wilcox.test with
	// exact = FALSE gives 0.1366 too).
	r := mannWhitneyU([]float64{1, 2, 2, 3}, []float64{2, 3, 4, 5})
	if r.U1 != 2.5 || r.U != 2.5 || math.Abs(r.Var-11.285714) > 1e-5 || math.Abs(r.Z+1.48835) > 1e-4 || math.Abs(r.P-0.1366) > 1e-3 {
		t.Errorf("tied example: %+v", r)
	}
	// Symmetric: swapping the samples mirrors U1 and keeps p.
	s := mannWhitneyU([]float64{2, 3, 4, 5}, []float64{1, 2, 2, 3})
	if s.U1 != 13.5 || math.Abs(s.P-r.P) > 1e-12 {
		t.Errorf("swapped: %+v", s)
	}
	// Separated samples are told apart; one sample against itself is not;
	// all values tied give p = 1.
	var lo, hi []float64
	for i := range 50 {
		lo, hi = append(lo, float64(i)), append(hi, float64(100+i))
	}
	if r := mannWhitneyU(lo, hi); r.U != 0 || r.P > 1e-10 {
		t.Errorf("separated: %+v", r)
	}
	if r := mannWhitneyU(lo, lo); r.U1 != 1250 || r.P < 0.99 {
		t.Errorf("same sample: %+v", r)
	}
	if r := mannWhitneyU([]float64{7, 7, 7}, []float64{7, 7}); r.P != 1 || r.U1 != 3 {
		t.Errorf("all tied: %+v", r)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}

// timingFloor is the refusal floor of the sign-in timing tests. Production
// uses 250 ms with the real hasher; with the tests' cheap one, a refusal's
// work is under 15 ms, so 40 ms hides it with a margin for a busy machine.
const timingFloor = 25 * time.Millisecond

// verdictRecorder keeps indistinguishable's verdict instead of failing the
// test that checks it.
type verdictRecorder struct {
	testing.TB
	failed bool
}

func (r *verdictRecorder) Helper()               {}
func (r *verdictRecorder) Logf(string, ...any)   {}
func (r *verdictRecorder) Errorf(string, ...any) { r.failed = true }

// TestIndistinguishableVerdict checks the timing tests' own rule on
// made-up answer times (log-normal, as a loaded server's are): it must
// catch a real shift in both samples and let pass equal distributions and
// a shift that changes sides between the samples, which is the machine.
func TestIndistinguishableVerdict(t *testing.T) {
	times := func(rng *mrand.Rand, scale, sigma float64) []float64 {
		x := make([]float64, 500)
		for i := range x {
			x[i] = scale * math.Exp(sigma*rng.NormFloat64())
		}
		return x
	}
	for _, c := range []struct {
		name string
		// slower returns the factors of existing and unknown inputs' times
		// in sample seed.
		slower   func(seed uint64) (existing, unknown float64)
		sigma    float64
		wantFail bool
	}{
		{"the same work", func(uint64) (float64, float64) { return 1, 1 }, 0.5, false},
		{"the existing 10 % slower", func(uint64) (float64, float64) { return 1.10, 1 }, 0.3, true},
		{"the unknown 3 % slower, little noise", func(uint64) (float64, float64) { return 1, 1.03 }, 0.1, true},
		{"6 % apart, one way then the other", func(seed uint64) (float64, float64) {
			if seed == 1 {
				return 1.06, 1
			}
			return 1, 1.06
		}, 0.3, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &verdictRecorder{TB: t}
			indistinguishable(r, c.name, func(seed uint64) ([]float64, []float64) {
				rng := mrand.New(mrand.NewPCG(seed, 7))
				e, u := c.slower(seed)
				return times(rng, 3500*e, c.sigma), times(rng, 3500*u, c.sigma)
			})
			if r.failed != c.wantFail {
				t.Errorf("indistinguishable failed = %v, want %v", r.failed, c.wantFail)
			}
		})
	}
}
