// Command bench measures Sésame on one machine, over loopback, against
// the real binary with its embedded store and a real SMTP sink:
//
//	go run ./bench                 # the full run (about 10 minutes), 3 runs
//	go run ./bench -runs 1 -mixed-duration 20s -scale 2000
//
// It prints a Markdown table of medians over the runs, with each target.
// See bench/README.md for what each figure means and how it is measured.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/school"
)

type benchOptions struct {
	binary        string
	runs          int
	accounts      int
	scale         []int
	importMax     int
	concurrency   int
	stepDuration  time.Duration
	clients       int
	mixedDuration time.Duration
	think         time.Duration
	scaleDuration time.Duration
	scaleMailWait time.Duration
	mailWait      time.Duration
	mailTimeout   time.Duration
	drain         time.Duration
	cache         string
	keep          bool
	logLevel      string
	out           string
	profile       string
	only          map[string]bool
}

var started = time.Now()

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%6.1fs] %s\n", time.Since(started).Seconds(), fmt.Sprintf(format, args...))
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseFlags() (benchOptions, error) {
	var o benchOptions
	cacheDefault := ""
	if d, err := os.UserCacheDir(); err == nil {
		cacheDefault = filepath.Join(d, "sesame-bench")
	}
	var scale, only string
	flag.StringVar(&o.binary, "binary", "", "sesame binary to measure (default: build it from this checkout with CGO_ENABLED=0 go build -trimpath)")
	flag.IntVar(&o.runs, "runs", 3, "repeated runs; the table shows medians (0 with -profile: only profile)")
	flag.IntVar(&o.accounts, "accounts", 2000, "accounts of the school used by the step and mixed phases (2000, 10000 or 50000)")
	flag.StringVar(&scale, "scale", "2000,10000,50000", "school sizes for the embedded-store scaling figure (step-1 latency); empty to skip")
	flag.IntVar(&o.importMax, "import-max", 2000, "sizes up to this are seeded with `sesame accounts import` (argon2id per row); larger ones directly through the store package with one shared hash")
	flag.IntVar(&o.concurrency, "concurrency", 8, "concurrent requests of the step-1, step-2 and step-3 phases")
	flag.DurationVar(&o.stepDuration, "step-duration", 8*time.Second, "length of the step-1 phase (and at most of the step-3 phase)")
	flag.IntVar(&o.clients, "clients", 200, "simulated people at once in the mixed load")
	flag.DurationVar(&o.mixedDuration, "mixed-duration", 60*time.Second, "length of the mixed load")
	flag.DurationVar(&o.think, "think", 0, "mean pause of a simulated person between two requests of the mixed load (0: none, a closed loop)")
	flag.DurationVar(&o.scaleDuration, "scale-duration", 6*time.Second, "length of the step-1 phase at each school size")
	flag.DurationVar(&o.scaleMailWait, "scale-mail-wait", 5*time.Second, "after the step-1 phase at each school size, how long its codes may take (shows the dispatcher's lookups at that size)")
	flag.DurationVar(&o.mailWait, "mail-wait", 120*time.Second, "after the step-1 phase, how long to wait for its codes before step 2")
	flag.DurationVar(&o.mailTimeout, "mail-timeout", 60*time.Second, "in the mixed load, how long a person waits for their code")
	flag.DurationVar(&o.drain, "drain", 120*time.Second, "after the mixed load, how long every requested code may still take to arrive")
	flag.StringVar(&o.cache, "cache", cacheDefault, "where seeded data directories are kept between invocations (empty: this invocation only)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary directory (data directories, server logs)")
	flag.StringVar(&o.logLevel, "server-log-level", "info", "SESAME_LOG_LEVEL of the measured server (info logs one line per request, as in production)")
	flag.StringVar(&o.out, "out", "", "also write the report to this file")
	flag.StringVar(&o.profile, "profile", "", "after the runs, profile the server (CPU of each step and of the mixed load, heap) into this directory, with a build of the same sources plus a pprof hook given through go build -overlay")
	flag.StringVar(&only, "only", "", "comma-separated subset of phases: start,wire,steps,mixed,cas,oidc,scale (default: all)")
	flag.Parse()
	for _, s := range strings.Split(scale, ",") {
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
		if err != nil || n < 100 {
			return o, fmt.Errorf("-scale: %q is not a number of accounts ≥ 100", s)
		}
		o.scale = append(o.scale, n)
	}
	o.only = map[string]bool{}
	for _, s := range strings.Split(only, ",") {
		if s = strings.TrimSpace(s); s != "" {
			o.only[s] = true
		}
	}
	if o.runs < 0 || o.runs == 0 && o.profile == "" || o.accounts < 100 || o.concurrency < 1 || o.clients < 1 {
		return o, fmt.Errorf("-runs, -accounts (≥ 100), -concurrency and -clients must be positive")
	}
	return o, nil
}

func (o benchOptions) want(phase string) bool { return len(o.only) == 0 || o.only[phase] }

func (o benchOptions) method(n int) seedMethod {
	if n <= o.importMax {
		return seedImport
	}
	return seedDirect
}

// runFigures are one run's numbers.
type runFigures struct {
	Starts []time.Duration
	Steps  *stepsResult
	Hash   float64
	Mixed  *mixedResult
	Wire   []wireRow
	CAS    *casResult
	OIDC   *oidcResult
	Scale  map[int]summary
	ScaleM map[int]*stepsResult
	Logs   []string // server log problems
	Idle   memInfo  // right after start
	Others float64  // share of the machine's CPU used by other programs during the run
	Self   float64  // … and by the benchmark itself
}

func run() error {
	o, err := parseFlags()
	if err != nil {
		return err
	}
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return fmt.Errorf("run from inside the sesame module (go env GOMOD: %v)", err)
	}
	repo := filepath.Dir(strings.TrimSpace(string(out)))
	config := filepath.Join(repo, "bench", "school.yaml")
	sc, err := school.Load(config)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "sesame-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		logf("keeping %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if o.binary == "" {
		o.binary = filepath.Join(tmp, "sesame")
		logf("building %s (CGO_ENABLED=0 go build -trimpath)…", o.binary)
		if err := build(repo, o.binary); err != nil {
			return fmt.Errorf("build: %w", err)
		}
	}
	if o.binary, err = filepath.Abs(o.binary); err != nil {
		return err
	}
	sk, err := startSink()
	if err != nil {
		return err
	}
	defer sk.Close()

	// Seeded schools, made once and copied for every server start.
	templates := map[int]string{}
	sizes := []int{o.accounts}
	if o.want("scale") {
		sizes = append(sizes, o.scale...)
	}
	for _, n := range sizes {
		if templates[n] != "" {
			continue
		}
		if templates[n], err = template(o.binary, config, o.cache, tmp, n, o.method(n)); err != nil {
			return fmt.Errorf("seed %d accounts: %w", n, err)
		}
	}
	schools := map[int]*schoolData{}
	for n := range templates {
		schools[n] = generate(n)
	}

	serverNo := 0
	start := func(n int, label string) (*server, error) {
		serverNo++
		dir := filepath.Join(tmp, fmt.Sprintf("data-%02d-%s", serverNo, label))
		if err := copyDir(templates[n], dir); err != nil {
			return nil, err
		}
		return startServer(o.binary, dir, config, sk.URL.String(), o.logLevel, filepath.Join(tmp, fmt.Sprintf("server-%02d-%s.log", serverNo, label)))
	}
	var acct *cpuAccount // of the current run
	stop := func(sv *server, f *runFigures, label string) {
		if acct != nil {
			acct.stopped(cpuTime(sv.Pid()))
		}
		sv.Stop()
		if e, w, sample := countLevels(sv.log.Name()); e > 0 {
			f.Logs = append(f.Logs, fmt.Sprintf("%s: %d ERROR and %d WARN lines; first: %s", label, e, w, sample))
		}
		if !o.keep {
			_ = os.RemoveAll(sv.DataDir)
		}
	}

	var runs []runFigures
	for r := 1; r <= o.runs; r++ {
		var f runFigures
		acct = startCPUAccount()
		f.Scale = map[int]summary{}
		f.ScaleM = map[int]*stepsResult{}
		mainSchool := schools[o.accounts]
		direct := o.method(o.accounts) == seedDirect

		if o.want("steps") || o.want("wire") || o.want("start") {
			sv, err := start(o.accounts, "steps")
			if err != nil {
				return err
			}
			f.Starts = append(f.Starts, sv.Ready)
			f.Idle = memoryInfo(sv.Pid())
			logf("run %d: server ready in %s, VmRSS %.1f MB", r, ms(sv.Ready), float64(f.Idle.RSS)/1024)
			al := newAllocator(mainSchool, direct)
			if o.want("wire") {
				rows, err := runWire(sv, sk, mainSchool, sc, al)
				if err != nil {
					logf("run %d: bytes on the wire: %v", r, err)
				}
				f.Wire = rows
			}
			if o.want("steps") {
				logf("run %d: steps 1, 2, 3 at concurrency %d…", r, o.concurrency)
				res, err := runSteps(sv, sk, mainSchool, sc, al, o.concurrency, o.stepDuration, o.mailWait, true, nil)
				if err != nil {
					stop(sv, &f, "steps")
					return err
				}
				f.Steps = &res
				logf("run %d: step 1 %.0f/s, %d codes mailed in %.1f s after, step 2 %.0f/s, step 3 %.1f/s",
					r, res.Step1.Rate, res.Step2Flows, res.MailWait.Seconds(), res.Step2.Rate, res.Step3.Rate)
			}
			stop(sv, &f, "steps")
			if o.want("steps") {
				f.Hash = rawHashRate(o.concurrency, 5*time.Second)
				logf("run %d: raw argon2id %.1f hashes/s in-process", r, f.Hash)
			}
		}

		if o.want("mixed") {
			sv, err := start(o.accounts, "mixed")
			if err != nil {
				return err
			}
			f.Starts = append(f.Starts, sv.Ready)
			logf("run %d: mixed load, %d people for %s…", r, o.clients, o.mixedDuration)
			res := runMixed(sv, sk, mainSchool, sc, newAllocator(mainSchool, direct), o.clients, o.mixedDuration, o.think, o.mailTimeout, o.drain, nil)
			f.Mixed = &res
			logf("run %d: mixed: non-hashing p99 %s, %d×5xx, %d/%d codes arrived, RSS max %.1f MB",
				r, ms(res.NonHash.P99), res.Total5xx, res.Arrived, res.Expected, float64(res.MaxRSS)/1024)
			stop(sv, &f, "mixed")
		}

		if o.want("cas") {
			sv, err := start(o.accounts, "cas")
			if err != nil {
				return err
			}
			logf("run %d: CAS login and validation at concurrency %d…", r, o.concurrency)
			res, err := runCAS(sv, mainSchool, newAllocator(mainSchool, direct), o.concurrency, o.stepDuration)
			stop(sv, &f, "cas")
			if err != nil {
				return err
			}
			f.CAS = &res
			logf("run %d: CAS: login %.0f/s (p99 %s), validation %.0f/s (p99 %s), %d+%d errors",
				r, res.Login.Rate, ms(res.Login.P99), res.Validate.Rate, ms(res.Validate.P99), res.Login.Errs, res.Validate.Errs)
		}

		if o.want("oidc") {
			sv, err := start(o.accounts, "oidc")
			if err != nil {
				return err
			}
			logf("run %d: OpenID Connect authorization, code exchange and userinfo at concurrency %d…", r, o.concurrency)
			res, err := runOIDC(sv, mainSchool, newAllocator(mainSchool, direct), o.concurrency, o.stepDuration)
			stop(sv, &f, "oidc")
			if err != nil {
				return err
			}
			f.OIDC = &res
			logf("run %d: OIDC: authorization %.0f/s (p99 %s, %.1f ms CPU), exchange %.0f/s (p99 %s, %.1f ms CPU), userinfo %.0f/s (p99 %s, %.1f ms CPU), %d+%d+%d errors",
				r, res.Authorize.Rate, ms(res.Authorize.P99), float64(res.CPUAuthorize.Microseconds())/1000, res.Token.Rate, ms(res.Token.P99), float64(res.CPUToken.Microseconds())/1000,
				res.Userinfo.Rate, ms(res.Userinfo.P99), float64(res.CPUUserinfo.Microseconds())/1000, res.Authorize.Errs, res.Token.Errs, res.Userinfo.Errs)
		}

		if o.want("scale") {
			for _, n := range o.scale {
				sv, err := start(n, fmt.Sprintf("scale%d", n))
				if err != nil {
					return err
				}
				if n == o.accounts {
					f.Starts = append(f.Starts, sv.Ready)
				}
				res, err := runSteps(sv, sk, schools[n], sc, newAllocator(schools[n], o.method(n) == seedDirect), o.concurrency, o.scaleDuration, o.scaleMailWait, false, nil)
				stop(sv, &f, fmt.Sprintf("scale%d", n))
				if err != nil {
					return err
				}
				f.Scale[n] = res.Step1
				f.ScaleM[n] = &res
				logf("run %d: %d accounts: step 1 %.0f/s, p50 %s, p99 %s; %d of %d codes within %s of the phase's end (start %s)",
					r, n, res.Step1.Rate, ms(res.Step1.P50), ms(res.Step1.P99), res.Step2Flows, res.Flows, o.scaleMailWait, ms(sv.Ready))
			}
		}
		f.Others, f.Self = acct.others()
		if f.Others > 0.1 {
			logf("run %d: other programs used %.0f %% of the machine's CPU during this run: its figures are skewed", r, 100*f.Others)
		}
		runs = append(runs, f)
	}

	rep := report(o, runs, templates)
	if o.profile != "" {
		prof, err := runProfile(o, repo, tmp, o.profile, config, templates[o.accounts], schools[o.accounts], sc, sk, o.method(o.accounts) == seedDirect)
		rep += prof
		if err != nil {
			logf("profile: %v", err)
		}
	}
	fmt.Print(rep)
	if o.out != "" {
		if err := os.WriteFile(o.out, []byte(rep), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// report renders the medians and the details of the last run.
func report(o benchOptions, runs []runFigures, templates map[int]string) string {
	var b strings.Builder
	if len(runs) == 0 {
		return ""
	}
	host, _ := os.Hostname()
	fmt.Fprintf(&b, "\n## Sésame benchmark, %s\n\n", time.Now().Format("2006-01-02 15:04"))
	fmt.Fprintf(&b, "`go run ./bench %s` — %s, %d CPUs, %s, host %s; %d run(s), medians below.\n",
		strings.Join(os.Args[1:], " "), cpuModel(), runtime.NumCPU(), runtime.Version(), host, len(runs))
	fmt.Fprintf(&b, "Binary: %s (`sesame version`: %s).\n", o.binary, binaryVersion(o.binary))
	fmt.Fprintf(&b, "School: %d accounts (%s), populations parents/students/staff/contract-staff/officials; argon2id m=%d KiB, t=%d, p=%d.\n\n",
		o.accounts, o.method(o.accounts), account.DefaultParams().Memory, account.DefaultParams().Time, account.DefaultParams().Threads)

	type fig struct {
		name, target string
		vals         []float64
		unit         string
		ok           func(float64) bool
		note         string
	}
	var figs []fig
	col := func(get func(runFigures) (float64, bool)) []float64 {
		var v []float64
		for _, r := range runs {
			if x, ok := get(r); ok {
				v = append(v, x)
			}
		}
		return v
	}
	msOf := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	add := func(f fig) {
		if len(f.vals) > 0 {
			figs = append(figs, f)
		}
	}
	steps := func(get func(*stepsResult) float64) []float64 {
		return col(func(r runFigures) (float64, bool) {
			if r.Steps == nil {
				return 0, false
			}
			return get(r.Steps), true
		})
	}
	mixed := func(get func(*mixedResult) float64) []float64 {
		return col(func(r runFigures) (float64, bool) {
			if r.Mixed == nil {
				return 0, false
			}
			return get(r.Mixed), true
		})
	}
	c := o.concurrency
	cpuMs := func(get func(*stepsResult) time.Duration) []float64 {
		return steps(func(s *stepsResult) float64 { return msOf(get(s)) })
	}
	add(fig{name: fmt.Sprintf("request a code as a browser does (GET /recovery, POST step 1; own cookies and token per person), c=%d", c),
		target: "≥ 250 flows/s", unit: "flows/s",
		vals: steps(func(s *stepsResult) float64 { return s.Step1.Rate }), ok: func(v float64) bool { return v >= 250 },
		note: fmt.Sprintf("%.2f ms of server CPU per flow", median(cpuMs(func(s *stepsResult) time.Duration { return s.CPU1 })))})
	add(fig{name: "  server CPU per flow (GET + POST step 1)", target: "≤ 3 ms", unit: "ms",
		vals: cpuMs(func(s *stepsResult) time.Duration { return s.CPU1 }), ok: func(v float64) bool { return v <= 3 }})
	add(fig{name: "  GET /recovery p50 / p99", unit: "ms p99", vals: steps(func(s *stepsResult) float64 { return msOf(s.Form.P99) }),
		note: medianPair(steps(func(s *stepsResult) float64 { return msOf(s.Form.P50) }), steps(func(s *stepsResult) float64 { return msOf(s.Form.P99) }))})
	add(fig{name: "  POST step 1 p50 / p99", target: "p99 < 100 ms", unit: "ms p99", vals: steps(func(s *stepsResult) float64 { return msOf(s.Step1.P99) }),
		ok:   func(v float64) bool { return v < 100 },
		note: medianPair(steps(func(s *stepsResult) float64 { return msOf(s.Step1.P50) }), steps(func(s *stepsResult) float64 { return msOf(s.Step1.P99) }))})
	add(fig{name: "step 1 errors", target: "0", unit: "", vals: steps(func(s *stepsResult) float64 { return float64(s.Step1.Errs) }), ok: func(v float64) bool { return v == 0 }})
	add(fig{name: "codes mailed after the step-1 phase", unit: "codes/s",
		vals: steps(func(s *stepsResult) float64 { return s.MailRate }),
		note: fmt.Sprintf("last code %.1f s after step 1 ended; mail lag p50 %.0f ms, p99 %.0f ms; %v not arrived within -mail-wait",
			median(steps(func(s *stepsResult) float64 { return s.MailWait.Seconds() })),
			median(steps(func(s *stepsResult) float64 { return msOf(s.MailLagP50) })),
			median(steps(func(s *stepsResult) float64 { return msOf(s.MailLagP99) })),
			median(steps(func(s *stepsResult) float64 { return float64(s.MailMissing) })))})
	add(fig{name: fmt.Sprintf("step 2 POST /recovery/code (mailed code), c=%d", c), target: "≥ 250 /s", unit: "/s",
		vals: steps(func(s *stepsResult) float64 { return s.Step2.Rate }), ok: func(v float64) bool { return v >= 250 },
		note: fmt.Sprintf("%.2f ms CPU each; ", median(cpuMs(func(s *stepsResult) time.Duration { return s.CPU2 }))) + medianPair(steps(func(s *stepsResult) float64 { return msOf(s.Step2.P50) }), steps(func(s *stepsResult) float64 { return msOf(s.Step2.P99) })) +
			fmt.Sprintf(", %v flows, %v errors", median(steps(func(s *stepsResult) float64 { return float64(s.Step2.N) })), median(steps(func(s *stepsResult) float64 { return float64(s.Step2.Errs) })))})
	hashes := col(func(r runFigures) (float64, bool) { return r.Hash, r.Steps != nil })
	add(fig{name: fmt.Sprintf("step 3 POST /recovery/password, c=%d", c), target: "≥ 83 % of raw argon2id (within 1.2×)", unit: "% of raw",
		vals: col(func(r runFigures) (float64, bool) {
			if r.Steps == nil || r.Hash == 0 {
				return 0, false
			}
			return 100 * r.Steps.Step3.Rate / r.Hash, true
		}), ok: func(v float64) bool { return v >= 100/1.2 },
		note: fmt.Sprintf("%.1f /s (%.1f ms CPU each) vs %.1f raw hashes/s in-process (c=%d); %s, %v errors",
			median(steps(func(s *stepsResult) float64 { return s.Step3.Rate })), median(cpuMs(func(s *stepsResult) time.Duration { return s.CPU3 })), median(hashes), c,
			medianPair(steps(func(s *stepsResult) float64 { return msOf(s.Step3.P50) }), steps(func(s *stepsResult) float64 { return msOf(s.Step3.P99) })),
			median(steps(func(s *stepsResult) float64 { return float64(s.Step3.Errs) })))})
	casFig := func(get func(*casResult) float64) []float64 {
		return col(func(r runFigures) (float64, bool) {
			if r.CAS == nil {
				return 0, false
			}
			return get(r.CAS), true
		})
	}
	add(fig{name: fmt.Sprintf("CAS validation GET /cas/p3/serviceValidate, c=%d", c), unit: "/s",
		vals: casFig(func(x *casResult) float64 { return x.Validate.Rate }),
		note: medianPair(casFig(func(x *casResult) float64 { return msOf(x.Validate.P50) }), casFig(func(x *casResult) float64 { return msOf(x.Validate.P99) })) +
			fmt.Sprintf(", %v errors; alternating with /cas/login (ticket issued, single sign-on) at %.0f /s, %s",
				median(casFig(func(x *casResult) float64 { return float64(x.Validate.Errs + x.Login.Errs) })),
				median(casFig(func(x *casResult) float64 { return x.Login.Rate })),
				medianPair(casFig(func(x *casResult) float64 { return msOf(x.Login.P50) }), casFig(func(x *casResult) float64 { return msOf(x.Login.P99) })))})
	oidcFig := func(get func(*oidcResult) float64) []float64 {
		return col(func(r runFigures) (float64, bool) {
			if r.OIDC == nil {
				return 0, false
			}
			return get(r.OIDC), true
		})
	}
	for _, x := range []struct {
		name string
		sum  func(*oidcResult) summary
		cpu  func(*oidcResult) time.Duration
	}{
		{"OIDC code exchange POST /oidc/token", func(x *oidcResult) summary { return x.Token }, func(x *oidcResult) time.Duration { return x.CPUToken }},
		{"OIDC GET /oidc/userinfo", func(x *oidcResult) summary { return x.Userinfo }, func(x *oidcResult) time.Duration { return x.CPUUserinfo }},
		{"OIDC authorization (browser, signed in: 3 hops to a code)", func(x *oidcResult) summary { return x.Authorize }, func(x *oidcResult) time.Duration { return x.CPUAuthorize }},
	} {
		add(fig{name: fmt.Sprintf("%s, c=%d", x.name, c), unit: "/s",
			vals: oidcFig(func(r *oidcResult) float64 { return x.sum(r).Rate }),
			note: medianPair(oidcFig(func(r *oidcResult) float64 { return msOf(x.sum(r).P50) }), oidcFig(func(r *oidcResult) float64 { return msOf(x.sum(r).P99) })) +
				fmt.Sprintf(", %.2f ms server CPU each, %v errors", median(oidcFig(func(r *oidcResult) float64 { return msOf(x.cpu(r)) })),
					median(oidcFig(func(r *oidcResult) float64 { return float64(x.sum(r).Errs) })))})
	}
	mx := fmt.Sprintf("mixed, %d clients × %s", o.clients, o.mixedDuration)
	if o.think > 0 {
		mx += fmt.Sprintf(" (think %s)", o.think)
	}
	add(fig{name: mx + ": non-hashing p99", target: "< 250 ms", unit: "ms",
		vals: mixed(func(m *mixedResult) float64 { return msOf(m.NonHash.P99) }), ok: func(v float64) bool { return v < 250 },
		note: fmt.Sprintf("p50 %.1f ms; %.0f req/s non-hashing; hashing (step 3, sign-in) p50 %.0f ms p99 %.0f ms at %.1f /s",
			median(mixed(func(m *mixedResult) float64 { return msOf(m.NonHash.P50) })),
			median(mixed(func(m *mixedResult) float64 { return m.NonHash.Rate })),
			median(mixed(func(m *mixedResult) float64 { return msOf(m.Hash.P50) })),
			median(mixed(func(m *mixedResult) float64 { return msOf(m.Hash.P99) })),
			median(mixed(func(m *mixedResult) float64 { return m.Hash.Rate })))})
	add(fig{name: mx + ": 5xx", target: "0", vals: mixed(func(m *mixedResult) float64 { return float64(m.Total5xx) }), ok: func(v float64) bool { return v == 0 },
		note: fmt.Sprintf("other failed requests: %v", median(mixed(func(m *mixedResult) float64 {
			return float64(m.NonHash.Errs + m.Hash.Errs - m.NonHash.S5xx - m.Hash.S5xx)
		})))})
	add(fig{name: mx + ": codes lost", target: "0", vals: mixed(func(m *mixedResult) float64 { return float64(m.Expected - m.Arrived) }), ok: func(v float64) bool { return v == 0 },
		note: fmt.Sprintf("of %v requested; last arrived %.1f s after the load; lag p50 %.1f s, p99 %.1f s (drain limit %s)",
			median(mixed(func(m *mixedResult) float64 { return float64(m.Expected) })),
			median(mixed(func(m *mixedResult) float64 { return m.DrainTime.Seconds() })),
			median(mixed(func(m *mixedResult) float64 { return m.LagP50.Seconds() })),
			median(mixed(func(m *mixedResult) float64 { return m.LagP99.Seconds() })), o.drain)})
	add(fig{name: "RSS under the mixed load (max VmRSS)", target: "≤ 80 MB", unit: "MB",
		vals: mixed(func(m *mixedResult) float64 { return float64(m.MaxRSS) / 1024 }), ok: func(v float64) bool { return v <= 80 },
		note: fmt.Sprintf("at the max: RssAnon %.1f MB + RssFile %.1f MB (the binary's code); VmHWM %.1f MB; server CPU %.0f %% of one core",
			median(mixed(func(m *mixedResult) float64 { return float64(m.MaxMem.Anon) / 1024 })),
			median(mixed(func(m *mixedResult) float64 { return float64(m.MaxMem.File) / 1024 })),
			median(mixed(func(m *mixedResult) float64 { return float64(m.HWM) / 1024 })),
			median(mixed(func(m *mixedResult) float64 { return 100 * m.CPU.Seconds() / o.mixedDuration.Seconds() })))})
	add(fig{name: "RSS right after start, idle", unit: "MB",
		vals: col(func(r runFigures) (float64, bool) { return float64(r.Idle.RSS) / 1024, r.Idle.RSS > 0 }),
		note: fmt.Sprintf("RssAnon %.1f MB + RssFile %.1f MB (the binary's code)",
			median(col(func(r runFigures) (float64, bool) { return float64(r.Idle.Anon) / 1024, r.Idle.RSS > 0 })),
			median(col(func(r runFigures) (float64, bool) { return float64(r.Idle.File) / 1024, r.Idle.RSS > 0 })))})
	add(fig{name: "start → first 200 of /readyz", target: "≤ 60 ms", unit: "ms",
		vals: col(func(r runFigures) (float64, bool) {
			if len(r.Starts) == 0 {
				return 0, false
			}
			var v []float64
			for _, s := range r.Starts {
				v = append(v, msOf(s))
			}
			return median(v), true
		}), ok: func(v float64) bool { return v <= 60 },
		note: fmt.Sprintf("embedded store, %d accounts; median of each run's starts", o.accounts)})
	add(fig{name: "bytes on the wire, first visit through 3 steps", target: "≤ 30 KB", unit: "KB received",
		vals: col(func(r runFigures) (float64, bool) {
			if len(r.Wire) == 0 {
				return 0, false
			}
			var in int64
			for _, w := range r.Wire {
				in += w.In
			}
			return float64(in) / 1024, true
		}), ok: func(v float64) bool { return v <= 30 },
		note: fmt.Sprintf("headers + compressed bodies, br; %.1f KB sent", median(col(func(r runFigures) (float64, bool) {
			var out int64
			for _, w := range r.Wire {
				out += w.Out
			}
			return float64(out) / 1024, len(r.Wire) > 0
		})))})
	for _, n := range o.scale {
		get := func(p func(summary) float64) []float64 {
			return col(func(r runFigures) (float64, bool) {
				s, ok := r.Scale[n]
				return p(s), ok
			})
		}
		add(fig{name: fmt.Sprintf("embedded store, %d accounts: step-1 latency", n), target: "p50 / p99", unit: "ms p99",
			vals: get(func(s summary) float64 { return msOf(s.P99) }),
			note: medianPair(get(func(s summary) float64 { return msOf(s.P50) }), get(func(s summary) float64 { return msOf(s.P99) })) +
				fmt.Sprintf(", %.0f flows/s at c=%d, %v errors (seeded: %s); codes mailed within %s after the phase: %.0f %%, lag p50 %.1f s",
					median(get(func(s summary) float64 { return s.Rate })), c,
					median(get(func(s summary) float64 { return float64(s.Errs) })), o.method(n), o.scaleMailWait,
					median(col(func(r runFigures) (float64, bool) {
						m, ok := r.ScaleM[n]
						if !ok || m.Flows == 0 {
							return 0, false
						}
						return 100 * float64(m.Step2Flows) / float64(m.Flows), true
					})),
					median(col(func(r runFigures) (float64, bool) {
						m, ok := r.ScaleM[n]
						if !ok {
							return 0, false
						}
						return m.MailLagP50.Seconds(), true
					})))})
	}

	add(fig{name: "CPU of other programs during the run", target: "≈ 0", unit: "% of machine",
		vals: col(func(r runFigures) (float64, bool) { return 100 * r.Others, true }),
		note: fmt.Sprintf("the benchmark itself: %.0f %%; load average %s", median(col(func(r runFigures) (float64, bool) { return 100 * r.Self, true })), loadAvg())})

	header := []string{"figure", "target"}
	for i := range runs {
		header = append(header, fmt.Sprintf("run %d", i+1))
	}
	header = append(header, "median", "", "details (medians)")
	var rows [][]string
	for _, f := range figs {
		row := []string{f.name, f.target}
		for i := range runs {
			if i < len(f.vals) {
				row = append(row, num(f.vals[i]))
			} else {
				row = append(row, "")
			}
		}
		m := median(f.vals)
		verdict := ""
		if f.ok != nil {
			verdict = "✅"
			if !f.ok(m) {
				verdict = "❌"
			}
		}
		row = append(row, num(m)+" "+f.unit, verdict, f.note)
		rows = append(rows, row)
	}
	b.WriteString(table(header, rows))

	last := runs[len(runs)-1]
	if last.Mixed != nil {
		fmt.Fprintf(&b, "\nMixed load of run %d, per request (%s; scenarios: %v):\n\n", len(runs), mx, last.Mixed.Scenarios)
		var rows [][]string
		for _, n := range last.Mixed.Rec.names() {
			s := last.Mixed.Rec.summary(n)
			rows = append(rows, []string{n, strconv.Itoa(s.N), fmt.Sprintf("%.1f", s.Rate), ms(s.P50), ms(s.P99), ms(s.Max), strconv.Itoa(s.Errs), strconv.Itoa(s.S5xx), s.TopErr})
		}
		b.WriteString(table([]string{"request", "ok", "/s", "p50", "p99", "max", "errors", "5xx", "most frequent error"}, rows))
	}
	if last.Steps != nil {
		fmt.Fprintf(&b, "\nSteps of run %d (c=%d):\n\n", len(runs), o.concurrency)
		var rows [][]string
		for _, s := range []summary{last.Steps.Step1, last.Steps.Step2, last.Steps.Step3} {
			rows = append(rows, []string{s.Name, strconv.Itoa(s.N), fmt.Sprintf("%.1f", s.Rate), ms(s.P50), ms(s.P99), ms(s.Max), strconv.Itoa(s.Errs), s.TopErr})
		}
		b.WriteString(table([]string{"request", "ok", "/s", "p50", "p99", "max", "errors", "most frequent error"}, rows))
	}
	if len(last.Wire) > 0 {
		fmt.Fprintf(&b, "\nBytes on the wire, first visit of run %d (Accept-Encoding: br, gzip):\n\n", len(runs))
		var rows [][]string
		var in, out, body int64
		for _, w := range last.Wire {
			rows = append(rows, []string{w.What, strconv.Itoa(w.Status), w.Enc, strconv.FormatInt(w.In, 10),
				strconv.FormatInt(w.In-w.Body, 10), strconv.FormatInt(w.Body, 10), strconv.FormatInt(w.Out, 10)})
			in, out, body = in+w.In, out+w.Out, body+w.Body
		}
		rows = append(rows, []string{"total", "", "", strconv.FormatInt(in, 10), strconv.FormatInt(in-body, 10), strconv.FormatInt(body, 10), strconv.FormatInt(out, 10)})
		b.WriteString(table([]string{"request", "status", "encoding", "bytes received", "of which headers", "of which body", "bytes sent"}, rows))
	}
	var logs []string
	for i, r := range runs {
		for _, l := range r.Logs {
			logs = append(logs, fmt.Sprintf("run %d, %s", i+1, l))
		}
	}
	if len(logs) > 0 {
		fmt.Fprintf(&b, "\nServer logs:\n\n- %s\n", strings.Join(logs, "\n- "))
	}
	return b.String()
}

func binaryVersion(bin string) string {
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(string(out)), "sesame"))
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func medianPair(p50, p99 []float64) string {
	return fmt.Sprintf("p50 %.1f ms, p99 %.1f ms", median(p50), median(p99))
}

func num(v float64) string {
	switch {
	case v == float64(int64(v)):
		return strconv.FormatInt(int64(v), 10)
	case v >= 100:
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.1f", v)
	}
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}
