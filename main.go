// Command sesame serves self-service account recovery and first-time
// activation for schools and family portals.
//
//	sesame                          serve (the default)
//	sesame version                  print the version
//	sesame healthcheck              exit 0 when the local server is ready
//	sesame accounts import FILE.csv load accounts from a spreadsheet
//	  [--letters letters.pdf]       and print provisional passwords' letters
//	sesame clients secret           a new OpenID Connect client secret and its hash
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // the minimal container image has no zoneinfo; Europe/Paris must still load

	"github.com/sesame-edu/sesame/server/account"
	"github.com/sesame-edu/sesame/server/app"
	"github.com/sesame-edu/sesame/server/clients"
	"github.com/sesame-edu/sesame/server/config"
	"github.com/sesame-edu/sesame/server/desk"
	"github.com/sesame-edu/sesame/server/mail"
	"github.com/sesame-edu/sesame/server/school"
	"github.com/sesame-edu/sesame/server/store"
)

// errUsage marks a command-line mistake (exit status 2, like a bad setting).
var errUsage = errors.New("usage")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sesame:", err)
		if errors.Is(err, config.ErrInvalid) || errors.Is(err, school.ErrInvalid) || errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

const usage = `usage:
  sesame                           serve Sésame (configured by SESAME_* variables)
  sesame version                   print the version
  sesame healthcheck               exit 0 when the local server answers /readyz
  sesame accounts import FILE.csv  create or update accounts from a CSV file
      [--letters letters.pdf]      rows without a password become pending accounts
                                   with a provisional password printed on a letter
  sesame clients secret            print a new client secret and the hash to put in the school's file`

// run is the whole program; main only adapts it to the process.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	cmd := strings.Join(args, " ")
	switch {
	case len(args) == 0 || cmd == "serve":
		return serve(ctx, getenv, stdout)
	case cmd == "version" || cmd == "--version":
		fmt.Fprintln(stdout, "sesame", version())
		return nil
	case cmd == "healthcheck":
		return healthcheck(ctx, getenv)
	case len(args) == 3 && args[0] == "accounts" && args[1] == "import":
		return importAccounts(ctx, getenv, stdout, args[2], "")
	case len(args) == 5 && args[0] == "accounts" && args[1] == "import" && args[3] == "--letters":
		return importAccounts(ctx, getenv, stdout, args[2], args[4])
	case len(args) == 5 && args[0] == "accounts" && args[1] == "import" && args[2] == "--letters":
		return importAccounts(ctx, getenv, stdout, args[4], args[3])
	case len(args) == 3 && args[0] == "store" && args[1] == "serve":
		return serveStore(ctx, stdout, args[2])
	case cmd == "clients secret":
		return clientSecret(stdout)
	case cmd == "help" || cmd == "-h" || cmd == "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return fmt.Errorf("%w: unknown command %q\n%s", errUsage, cmd, usage)
}

// version is the module version, or the VCS revision for a source build.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	rev, dirty := "dev", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
			if len(rev) > 12 {
				rev = rev[:12]
			}
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty {
		rev += "-dirty"
	}
	return rev
}

func newLogger(cfg config.Config, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: level}
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// openStore connects to SESAME_MONGODB_URI, or starts the embedded store.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (*store.Store, string, error) {
	if cfg.MongoURI != "" {
		s, err := store.Connect(ctx, cfg.MongoURI, cfg.MongoDatabase, log)
		if err != nil {
			return nil, "", err
		}
		log.Info("store: MongoDB", "database", cfg.MongoDatabase)
		return s, "mongodb", nil
	}
	s, err := store.OpenEmbedded(ctx, cfg.DataDir, cfg.MongoDatabase, log)
	if err != nil {
		return nil, "", err
	}
	log.Info("store: embedded (FerretDB over SQLite; set SESAME_MONGODB_URI for production MongoDB)", "dir", cfg.DataDir)
	return s, "embedded", nil
}

// loadSchool reads SESAME_CONFIG, or returns the built-in configuration.
func loadSchool(cfg config.Config, log *slog.Logger) (*school.Config, error) {
	if cfg.ConfigFile == "" {
		return school.Default(), nil
	}
	sc, err := school.Load(cfg.ConfigFile)
	if err != nil {
		return nil, err
	}
	for _, w := range sc.WeakPolicies() {
		log.Warn("weak password policy: " + w)
	}
	for _, w := range clients.NewRegistry(sc.Clients, sc.ForwardAuth, nil).Warnings() {
		log.Warn("client secret: " + w)
	}
	log.Info("configuration file loaded", "file", cfg.ConfigFile, "school", sc.School.Name, "populations", len(sc.Populations))
	return sc, nil
}

// secret returns SESAME_SECRET (or SESAME_SECRET_FILE's), or the one
// generated in the data directory.
func secret(cfg config.Config, log *slog.Logger) ([]byte, error) {
	if cfg.Secret != nil {
		return cfg.Secret, nil
	}
	s, err := config.LoadOrCreateSecret(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	log.Info("SESAME_SECRET and SESAME_SECRET_FILE unset: using the secret kept in the data directory, which its backups then carry", "dir", cfg.DataDir)
	return s, nil
}

func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
	started := time.Now()
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(cfg, stdout)
	// zitadel/oidc logs through slog's default logger, and at WARN every
	// refusal it answers an application (a used code, a wrong secret):
	// expected refusals, audited, that need no log line. Its errors reach
	// Sésame's log, in Sésame's format.
	slog.SetDefault(slog.New(minLevel{Handler: log.Handler(), min: slog.LevelError}))
	sc, err := loadSchool(cfg, log)
	if err != nil {
		return err
	}
	key, err := secret(cfg, log)
	if err != nil {
		return err
	}
	st, kind, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = st.Close(cctx)
	}()
	// The collections and indexes are made while the application is wired
	// (app.New reads nothing from the store): each is a command to the
	// store, the wiring is CPU alone (catalogues, templates, assets), and
	// together they were a third of the time from start to ready.
	indexed := make(chan error, 1)
	go func() { indexed <- st.EnsureIndexes(ctx) }()
	// Mail goes over SMTP or, without SESAME_SMTP_URL, to the log so that a
	// newcomer can read codes.
	var sender mail.Sender = mail.NewLogSender(log)
	if cfg.SMTPURL != nil {
		if sender, err = mail.NewSMTPSender(cfg.SMTPURL, 20*time.Second); err != nil {
			return err
		}
		log.Info("mail: SMTP", "relay", cfg.SMTPURL.Redacted())
	} else {
		log.Warn("mail: SESAME_SMTP_URL unset, mails are written to this log (codes included); set it in production")
	}
	a, err := app.New(app.Options{
		Log: log, Store: st, StoreKind: kind, School: sc, Secret: key,
		BaseURL: cfg.BaseURL, MailFrom: cfg.MailFrom, Sender: sender, Location: cfg.Location,
		TrustedProxies: cfg.TrustedProxies, SessionIdle: cfg.SessionIdle, SessionMax: cfg.SessionMax,
		MetricsToken: cfg.MetricsToken, Dist: distFS(), Version: version(),
		Worker: mail.WorkerOptions{SentRetention: 24 * time.Hour},
	})
	if err := errors.Join(<-indexed, err); err != nil {
		return err
	}

	// Listen first: a busy port must end the program at once, before any
	// background work starts.
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}

	// Background work stops with bgCtx; the store closes only after it has.
	bgCtx, stopBg := context.WithCancel(ctx)
	bgDone := make(chan struct{})
	go func() { a.Run(bgCtx); close(bgDone) }()
	defer func() { stopBg(); <-bgDone }()

	log.Info("listening", "addr", ln.Addr().String(), "url", cfg.BaseURL.String(), "version", version(),
		"startup_ms", time.Since(started).Milliseconds())
	errc := make(chan error, 1)
	go func() { errc <- a.HTTP.Listener(ln) }()

	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down")
	// Requests in flight get 10 s to finish; idle keep-alive connections
	// are then cut, which is not a failure worth a non-zero exit.
	if err := a.HTTP.ShutdownWithTimeout(10 * time.Second); err != nil {
		log.Warn("shutdown: some connections were cut", "err", err)
	}
	return nil
}

// serveStore runs the embedded MongoDB wire-protocol server alone, on a
// loopback TCP port, over the SQLite files of dir, and prints its URI; it
// stops with the process. The tests under the race detector use it
// (make test): served from this uninstrumented process, the store answers
// as fast as in production, where the detector would slow it tenfold. It
// has no authentication: never expose it.
func serveStore(ctx context.Context, stdout io.Writer, dir string) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e, err := store.StartEmbedded(dir, true, log)
	if err != nil {
		return err
	}
	defer e.Stop()
	fmt.Fprintln(stdout, e.URI())
	<-ctx.Done()
	return nil
}

// healthcheck asks the local server's /readyz; the container image has no
// curl, so the binary checks itself.
func healthcheck(ctx context.Context, getenv func(string) string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	host, port, _ := net.SplitHostPort(cfg.Addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz", nil)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /readyz answered %s", resp.Status)
	}
	return nil
}

// importAccounts loads a CSV file: every row is validated first, and nothing
// is written if any row is bad. With lettersPath, rows without a password
// become pending accounts, and their provisional passwords are drawn and
// printed there, one page each (the console's generator and PDF).
func importAccounts(ctx context.Context, getenv func(string) string, stdout io.Writer, path, lettersPath string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	// The import talks to a person at a terminal: only warnings go to the log.
	cfg.LogLevel = "warn"
	log := newLogger(cfg, os.Stderr)
	sc, err := loadSchool(cfg, log)
	if err != nil {
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("accounts import: %w", err)
	}
	defer f.Close()
	rows, bad, err := account.ParseCSVWith(f, sc.Known, account.ParseOptions{GeneratePasswords: lettersPath != ""})
	if err != nil {
		return err
	}

	st, _, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer st.Close(context.Background())
	if err := st.EnsureIndexes(ctx); err != nil {
		return err
	}
	start := time.Now()
	im := account.NewImporter(st.Accounts(), account.NewHasher(account.DefaultParams(), runtime.NumCPU()), runtime.NumCPU(), time.Now).
		WithProgress(progressLine(stdout, start, 5*time.Second))
	// Every bad row at once, the guardians' too, so that the school fixes
	// its file in one pass.
	unknown, err := im.CheckGuardians(ctx, rows)
	if err != nil {
		return err
	}
	bad = append(bad, unknown...)
	if len(bad) > 0 {
		slices.SortStableFunc(bad, func(a, b account.RowError) int { return a.Line - b.Line })
		for _, b := range bad {
			fmt.Fprintf(stdout, "%s:%d: %s\n", path, b.Line, b.Reason)
		}
		return fmt.Errorf("accounts import: %d bad row(s); nothing was imported", len(bad))
	}
	// The letters' file is created before anything is written, so that a
	// path that cannot be written stops the import rather than the
	// letters: a provisional password drawn and never printed is lost.
	// An existing file is never replaced: it may hold an earlier run's
	// letters, the only copy of their passwords.
	var out *os.File
	if lettersPath != "" {
		if out, err = os.OpenFile(lettersPath, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err != nil {
			return fmt.Errorf("accounts import: letters (nothing was imported): %w", err)
		}
		defer out.Close()
	}
	sum, err := im.Import(ctx, rows)
	rowWord := "rows"
	if len(rows) == 1 {
		rowWord = "row"
	}
	fmt.Fprintf(stdout, "%d created, %d updated, %d unchanged (%d %s in %s)\n",
		sum.Created, sum.Updated, sum.Unchanged, len(rows), rowWord, time.Since(start).Round(time.Millisecond))
	if sum.KeptEmails > 0 {
		fmt.Fprintf(stdout, "%d address(es) left as their owners set them (confirmed on the personal page or chosen at activation)\n", sum.KeptEmails)
	}
	if out == nil {
		return err
	}
	// Letters for the accounts written; an import that failed partway
	// still prints those it created, which open with nothing else.
	return errors.Join(err, printImportLetters(ctx, cfg, log, sc, st, out, sum.Letters, stdout))
}

// printImportLetters gives the accounts ids a provisional password each
// and writes their letters on out, in French (the school's letters).
func printImportLetters(ctx context.Context, cfg config.Config, log *slog.Logger, sc *school.Config, st *store.Store, out *os.File, ids []string, stdout io.Writer) error {
	key, err := secret(cfg, log)
	if err != nil {
		return err
	}
	a, err := app.New(app.Options{
		Log: log, Store: st, School: sc, Secret: key, BaseURL: cfg.BaseURL, MailFrom: cfg.MailFrom,
		Sender: mail.NewLogSender(log), Location: cfg.Location, Dist: distFS(), Version: version(),
	})
	if err != nil {
		return err
	}
	var accs []account.Account
	for _, id := range ids {
		acc, err := st.Accounts().GetAccount(ctx, id)
		if err != nil {
			return fmt.Errorf("accounts import: letters: %w", err)
		}
		accs = append(accs, acc)
	}
	letters, err := a.Desk.IssueAll(ctx, accs)
	missing := 0
	if inc, ok := errors.AsType[*desk.IncompleteError](err); ok {
		missing = inc.Missing
	}
	if len(letters) == 0 && missing == 0 && err == nil {
		fmt.Fprintln(stdout, "no account waits for a letter")
		out.Close()
		return os.Remove(out.Name())
	}
	if perr := a.PrintLetters(out, "fr", letters, missing); perr != nil {
		return errors.Join(err, fmt.Errorf("accounts import: letters: %w", perr))
	}
	if cerr := out.Close(); cerr != nil {
		return errors.Join(err, fmt.Errorf("accounts import: letters: %w", cerr))
	}
	fmt.Fprintf(stdout, "%d letter(s) written to %s\n", len(letters), out.Name())
	if missing > 0 {
		fmt.Fprintf(stdout, "%d account(s) got no letter; run the same import again with --letters to print them\n", missing)
	}
	return err
}

// clientSecret prints a new OpenID Connect client secret, for the
// application's settings, and its argon2id hash, for the school's file: the
// file, often shared and versioned, never holds the secret itself.
func clientSecret(stdout io.Writer) error {
	secret, err := clients.NewSecret()
	if err != nil {
		return err
	}
	hash, err := account.NewHasher(account.DefaultParams(), 1).Hash(secret)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "secret: %s\n(give it to the application; it is shown only now)\n\nhash for the school's file:\n    secret: %q\n", secret, hash)
	return err
}

// progressLine prints, at most every interval, how far an import is and
// when it should end: hashing 50,000 passwords takes minutes.
func progressLine(w io.Writer, start time.Time, interval time.Duration) func(done, total int) {
	last := start
	return func(done, total int) {
		now := time.Now()
		if done == total || now.Sub(last) < interval {
			return
		}
		last = now
		left := time.Duration(float64(now.Sub(start)) / float64(done) * float64(total-done))
		fmt.Fprintf(w, "%d / %d rows (%.0f %%), about %s left\n", done, total, 100*float64(done)/float64(total), left.Round(time.Second))
	}
}

// minLevel drops the records of a handler below min.
type minLevel struct {
	slog.Handler
	min slog.Level
}

func (h minLevel) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevel) WithAttrs(as []slog.Attr) slog.Handler {
	return minLevel{Handler: h.Handler.WithAttrs(as), min: h.min}
}

func (h minLevel) WithGroup(name string) slog.Handler {
	return minLevel{Handler: h.Handler.WithGroup(name), min: h.min}
}
