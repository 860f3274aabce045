package storetest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// errNoPostgres wraps every reason why the PostgreSQL backend cannot run
// here, so that callers can tell "not installed" from a failure to start.
var errNoPostgres = errors.New("storetest: PostgreSQL is not available")

// postgresServer is a PostgreSQL cluster of the test binary's own, with an
// in-process FerretDB (handler "postgresql") in front of it.
type postgresServer struct {
	// uri is FerretDB's MongoDB URI.
	uri string
	// watchdog is the write end of the pipe the watchdog process waits on.
	// It is kept here, reachable, so that the garbage collector never
	// closes it (an *os.File's finalizer closes its descriptor), which
	// would stop the cluster in the middle of the tests.
	watchdog *os.File
}

// sharedPostgres starts the cluster and its FerretDB the first time a test
// of this binary asks for them, and returns the same ones afterwards.
//
// It is this package's one piece of package-level state, on purpose:
// creating a cluster takes more than a second, so every test of a binary
// shares one and gets a database of its own on it instead (see
// openPostgres). Nothing stops the cluster from a test's Cleanup, which
// would run after the first test, and a TestMain would be needed in every
// package and does not run when a binary is killed (-timeout, ^C). A
// watchdog process stops it instead when the test binary exits, however it
// exits: see startWatchdog.
var sharedPostgres = sync.OnceValues(startPostgres)

// pgBin returns the directory holding initdb and pg_ctl: the newest of
// Debian's /usr/lib/postgresql/<version>/bin, or else the directory of a
// pg_ctl on the PATH.
func pgBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(bin string) float64 {
		v, _ := strconv.ParseFloat(filepath.Base(filepath.Dir(bin)), 64)
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return cmp.Compare(version(a), version(b)) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i], nil
		}
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: no /usr/lib/postgresql/*/bin/pg_ctl and no pg_ctl on the PATH (apt-get install postgresql)", errNoPostgres)
}

// pgUser says how to run PostgreSQL's programs. PostgreSQL refuses to run
// as root, and CI runs as root: there, every command goes through
// `runuser -u postgres` (the Debian package creates that user) and the
// cluster's directory belongs to postgres. Anyone else runs them as
// themselves.
type pgUser struct {
	prefix   []string // runuser -u postgres --, or nothing
	uid, gid int      // the owner to give the cluster's directory; -1 keeps it
}

func currentPgUser() (pgUser, error) {
	if os.Geteuid() != 0 {
		return pgUser{uid: -1, gid: -1}, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return pgUser{}, fmt.Errorf("%w: running as root, and there is no postgres user to run it as: %w", errNoPostgres, err)
	}
	runuser, err := exec.LookPath("runuser")
	if err != nil {
		return pgUser{}, fmt.Errorf("%w: running as root, and runuser is missing: %w", errNoPostgres, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return pgUser{prefix: []string{runuser, "-u", "postgres", "--"}, uid: uid, gid: gid}, nil
}

func (u pgUser) command(name string, args ...string) *exec.Cmd {
	argv := append(slices.Clone(u.prefix), name)
	argv = append(argv, args...)
	return exec.Command(argv[0], argv[1:]...)
}

// startPostgres creates a cluster in a temporary directory, starts it on a
// free loopback port, and starts FerretDB over it.
func startPostgres() (*postgresServer, error) {
	bin, err := pgBin()
	if err != nil {
		return nil, err
	}
	u, err := currentPgUser()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "sesame-pg-")
	if err != nil {
		return nil, fmt.Errorf("storetest: postgres: %w", err)
	}
	if u.uid >= 0 {
		if err := os.Chown(dir, u.uid, u.gid); err != nil {
			_ = os.RemoveAll(dir)
			return nil, fmt.Errorf("storetest: postgres: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	// -N skips fsync: the cluster lives as long as the test binary.
	initdb := u.command(filepath.Join(bin, "initdb"), "-D", data, "-A", "trust", "-U", "postgres", "-N", "-E", "UTF8", "--locale=C")
	if out, err := initdb.CombinedOutput(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("storetest: postgres: initdb: %w\n%s", err, out)
	}
	pgCtl := filepath.Join(bin, "pg_ctl")
	// The watchdog starts before the server, so that no exit of this
	// process, from here on, leaves a server running.
	wd, err := startWatchdog(u, pgCtl, data, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	port, err := startCluster(u, pgCtl, data, dir)
	if err != nil {
		_ = wd.Close() // the watchdog removes the directory
		return nil, err
	}
	uri, err := startFerretDB(fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres", port))
	if err != nil {
		_ = wd.Close()
		return nil, err
	}
	return &postgresServer{uri: uri, watchdog: wd}, nil
}

// startCluster starts PostgreSQL on a free loopback port and returns it.
// Another process may take the port between the probe and the start; the
// start is then tried again on another one.
func startCluster(u pgUser, pgCtl, data, dir string) (int, error) {
	var lastErr error
	for range 3 {
		port, err := freePort()
		if err != nil {
			return 0, err
		}
		// The settings trade durability, which a test cluster does not
		// need, for speed on a small machine.
		opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200", port, dir)
		// -l sends the server's output to a file: a daemon holding the
		// pipes of CombinedOutput open would make it wait forever.
		cmd := u.command(pgCtl, "-D", data, "-o", opts, "-l", filepath.Join(dir, "server.log"), "-w", "-t", "60", "start")
		out, err := cmd.CombinedOutput()
		if err == nil {
			return port, nil
		}
		log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
		lastErr = fmt.Errorf("storetest: postgres: pg_ctl start: %w\n%s\n%s", err, out, log)
	}
	return 0, lastErr
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("storetest: postgres: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// startWatchdog starts a shell that waits for its standard input to close,
// then stops the cluster and removes its directory. Its standard input is
// a pipe whose only write end this process holds: the kernel closes it
// when this process exits, whether it returns, panics or is killed. The
// shell runs in a process group of its own, so that a ^C sent to the
// test's group does not kill it before it has cleaned up, and it holds none
// of this process's output, which `go test` reads until its end.
func startWatchdog(u pgUser, pgCtl, data, dir string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("storetest: postgres: watchdog: %w", err)
	}
	stop := u.command(pgCtl, "-D", data, "-m", "immediate", "-w", "stop").Args
	script := `read -r line; "$@" >/dev/null 2>&1; rm -rf "$0"`
	cmd := exec.Command("/bin/sh", append([]string{"-c", script, dir}, stop...)...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("storetest: postgres: watchdog: %w", err)
	}
	// Only the watchdog keeps the read end.
	_ = r.Close()
	// Reap the shell if it ends while this process runs (w closed early).
	go func() { _ = cmd.Wait() }()
	return w, nil
}

// startFerretDB runs FerretDB in this process over the PostgreSQL at
// pgURL, on a loopback port, until the test binary exits.
func startFerretDB(pgURL string) (string, error) {
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Handler:       "postgresql",
		PostgreSQLURL: pgURL,
		// FerretDB logs every connection at info level.
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return "", fmt.Errorf("storetest: ferretdb over postgres: %w", err)
	}
	go func() { _ = f.Run(context.Background()) }()
	// MongoDBURI waits for the listener to be bound.
	uri := f.MongoDBURI()
	if !strings.HasPrefix(uri, "mongodb://") {
		return "", fmt.Errorf("storetest: ferretdb over postgres: unexpected URI %q", uri)
	}
	return uri, nil
}
