// Package config reads Sésame's settings from environment variables.
//
// It uses the standard library only, so that every other package can depend
// on it without pulling in the web framework or the database driver.
package config

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// Config holds every setting that comes from the environment. It is built
// once by Load and then passed by value; nothing changes it afterwards.
type Config struct {
	// Addr is the address the HTTP server listens on (SESAME_ADDR).
	Addr string
	// BaseURL is the public address of the site (SESAME_BASE_URL). Links in
	// mails are built from it, never from the request's Host header, so that a
	// forged Host cannot redirect a code to an attacker's site.
	BaseURL *url.URL
	// MongoURI is the MongoDB connection string (SESAME_MONGODB_URI). Empty
	// means the embedded wire-protocol server is started instead.
	MongoURI string
	// MongoDatabase is the database name (SESAME_MONGODB_DATABASE).
	MongoDatabase string
	// DataDir holds the embedded store and the generated secret (SESAME_DATA_DIR).
	DataDir string
	// SMTPURL is the mail relay (SESAME_SMTP_URL); nil writes mails to the log.
	SMTPURL *url.URL
	// MailFrom is the sender of every mail (SESAME_MAIL_FROM).
	MailFrom *mail.Address
	// Secret keys code hashes, CSRF tokens and mail encryption (SESAME_SECRET,
	// or the content of the file SESAME_SECRET_FILE names). Empty means
	// "generate one and keep it in DataDir".
	Secret []byte
	// MetricsToken, when set, is the bearer token that shows the mail
	// backlog, the store kind and the version on /readyz and /healthz
	// (SESAME_METRICS_TOKEN). Without it the probes say up or down only.
	MetricsToken string
	// ConfigFile is the optional school and populations file (SESAME_CONFIG).
	ConfigFile string
	// Location is the time zone for office hours and same-day deadlines (SESAME_TIMEZONE).
	Location *time.Location
	// TrustedProxies lists the proxies whose X-Forwarded-For is believed
	// (SESAME_TRUSTED_PROXIES, comma-separated IPs or CIDRs). Empty means the
	// header is ignored, because anyone could forge it to dodge rate limits.
	TrustedProxies []string
	// SessionIdle and SessionMax end a session after inactivity and in any
	// case (SESAME_SESSION_IDLE, SESAME_SESSION_MAX).
	SessionIdle time.Duration
	SessionMax  time.Duration
	// LogFormat is "text" or "json" (SESAME_LOG_FORMAT).
	LogFormat string
	// LogLevel is the minimum level logged (SESAME_LOG_LEVEL).
	LogLevel string
}

// Problem is a bad environment variable: its name and what was expected.
type Problem struct {
	Var      string
	Expected string
	Got      string
}

func (p *Problem) Error() string {
	if p.Got == "" {
		return fmt.Sprintf("%s: expected %s", p.Var, p.Expected)
	}
	return fmt.Sprintf("%s: expected %s, got %q", p.Var, p.Expected, p.Got)
}

// ErrInvalid is wrapped by every error Load returns, so that main can exit
// with status 2 for configuration mistakes.
var ErrInvalid = errors.New("invalid configuration")

// Load reads the configuration through getenv (os.Getenv in production, a
// map in tests). It stops at the first bad value and names the variable.
func Load(getenv func(string) string) (Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	bad := func(name, expected, got string) (Config, error) {
		return Config{}, fmt.Errorf("%w: %w", ErrInvalid, &Problem{Var: name, Expected: expected, Got: got})
	}

	c := Config{
		Addr:          get("SESAME_ADDR", ":8080"),
		MongoURI:      get("SESAME_MONGODB_URI", ""),
		MongoDatabase: get("SESAME_MONGODB_DATABASE", "sesame"),
		DataDir:       get("SESAME_DATA_DIR", "./data"),
		ConfigFile:    get("SESAME_CONFIG", ""),
		LogFormat:     get("SESAME_LOG_FORMAT", "text"),
		LogLevel:      get("SESAME_LOG_LEVEL", "info"),
	}

	if _, port, err := net.SplitHostPort(c.Addr); err != nil {
		return bad("SESAME_ADDR", "host:port such as :8080 or 127.0.0.1:8080", c.Addr)
	} else if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return bad("SESAME_ADDR", "a port between 0 and 65535", c.Addr)
	}

	base := get("SESAME_BASE_URL", "")
	if base == "" {
		base = "http://localhost" + portSuffix(c.Addr)
	}
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return bad("SESAME_BASE_URL", "an absolute http(s) URL such as https://sesame.school.example", base)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	c.BaseURL = u

	if c.MongoURI != "" && !strings.HasPrefix(c.MongoURI, "mongodb://") && !strings.HasPrefix(c.MongoURI, "mongodb+srv://") {
		return bad("SESAME_MONGODB_URI", "a mongodb:// or mongodb+srv:// URI", redactURI(c.MongoURI))
	}
	if !validDatabaseName(c.MongoDatabase) {
		return bad("SESAME_MONGODB_DATABASE", "a database name of letters, digits, - and _ (at most 63)", c.MongoDatabase)
	}

	if s := get("SESAME_SMTP_URL", ""); s != "" {
		su, err := url.Parse(s)
		if err != nil || (su.Scheme != "smtp" && su.Scheme != "smtps") || su.Hostname() == "" {
			return bad("SESAME_SMTP_URL", "smtp://[user:password@]host[:port] or smtps://…", redactURI(s))
		}
		c.SMTPURL = su
	}

	from, err := mail.ParseAddress(get("SESAME_MAIL_FROM", "Sésame <noreply@localhost>"))
	if err != nil {
		return bad("SESAME_MAIL_FROM", `an address such as "Sésame <noreply@school.example>"`, getenv("SESAME_MAIL_FROM"))
	}
	c.MailFrom = from

	secretFile := get("SESAME_SECRET_FILE", "")
	if s := getenv("SESAME_SECRET"); s != "" {
		if secretFile != "" {
			return bad("SESAME_SECRET_FILE", "SESAME_SECRET or SESAME_SECRET_FILE, not both", secretFile)
		}
		if expected := checkSecret(s); expected != "" {
			return bad("SESAME_SECRET", expected, "")
		}
		c.Secret = []byte(s)
	}
	// A file (a Docker or Kubernetes secret) keeps the secret out of the
	// environment, which child processes and crash reports may see, and
	// out of the data directory, whose backups would otherwise carry the
	// key beside what it protects.
	if secretFile != "" {
		s, err := readSecretFile(secretFile)
		if err != nil {
			return Config{}, fmt.Errorf("%w: %w: %w", ErrInvalid,
				&Problem{Var: "SESAME_SECRET_FILE", Expected: "the path of a readable file holding the secret", Got: secretFile}, err)
		}
		if expected := checkSecret(s); expected != "" {
			return bad("SESAME_SECRET_FILE", "a file holding "+expected, secretFile)
		}
		c.Secret = []byte(s)
	}

	// The metrics token guards what would otherwise leak to anyone (the
	// mail backlog rises only for known accounts), so it obeys the same
	// rule as the secret.
	if s := get("SESAME_METRICS_TOKEN", ""); s != "" {
		if expected := checkSecret(s); expected != "" {
			return bad("SESAME_METRICS_TOKEN", expected, "")
		}
		c.MetricsToken = s
	}

	loc, err := time.LoadLocation(get("SESAME_TIMEZONE", "Europe/Paris"))
	if err != nil {
		return bad("SESAME_TIMEZONE", "an IANA time zone such as Europe/Paris", getenv("SESAME_TIMEZONE"))
	}
	c.Location = loc

	if s := get("SESAME_TRUSTED_PROXIES", ""); s != "" {
		for _, p := range strings.Split(s, ",") {
			p = strings.TrimSpace(p)
			if net.ParseIP(p) == nil {
				if _, _, err := net.ParseCIDR(p); err != nil {
					return bad("SESAME_TRUSTED_PROXIES", "comma-separated IP addresses or CIDR ranges", p)
				}
			}
			c.TrustedProxies = append(c.TrustedProxies, p)
		}
	}

	for _, d := range []struct {
		name string
		def  string
		dst  *time.Duration
	}{{"SESAME_SESSION_IDLE", "30m", &c.SessionIdle}, {"SESAME_SESSION_MAX", "12h", &c.SessionMax}} {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v < time.Minute || v > 30*24*time.Hour {
			return bad(d.name, "a duration between 1m and 720h, such as 30m or 12h", getenv(d.name))
		}
		*d.dst = v
	}
	if c.SessionIdle > c.SessionMax {
		return bad("SESAME_SESSION_IDLE", "a duration no longer than SESAME_SESSION_MAX", getenv("SESAME_SESSION_IDLE"))
	}

	if c.LogFormat != "text" && c.LogFormat != "json" {
		return bad("SESAME_LOG_FORMAT", "text or json", c.LogFormat)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return bad("SESAME_LOG_LEVEL", "debug, info, warn or error", c.LogLevel)
	}
	return c, nil
}

// Secure reports whether cookies must carry the Secure attribute, which is
// the case whenever the public address is HTTPS (usually behind a proxy).
func (c Config) Secure() bool { return c.BaseURL.Scheme == "https" }

func portSuffix(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	if port == "" || port == "80" || port == "0" {
		return ""
	}
	return ":" + port
}

func validDatabaseName(s string) bool {
	if s == "" || len(s) > 63 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// redactURI hides the password of a URI so that it never reaches a log or
// an error message.
func redactURI(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "(unparsable URI)"
	}
	return u.Redacted()
}

// maxSecretFile bounds what is read from SESAME_SECRET_FILE, so that a path
// to a large file by mistake is refused rather than read whole.
const maxSecretFile = 4 << 10

// readSecretFile returns the content of path without surrounding
// whitespace (editors and "echo" add a newline).
func readSecretFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("read secret file: %w", err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("read secret file: larger than %d bytes", maxSecretFile)
	}
	return strings.TrimSpace(string(b)), nil
}

// checkSecret returns what a secret value should have been, or "" when it
// is acceptable. It never echoes the value: a rejected secret may still be
// a real one with a typo.
func checkSecret(s string) string {
	// The secret keys HMACs and AES-GCM; 32 characters of a random string
	// give at least 128 bits even when only hex or base64 is used.
	if len(s) < 32 {
		return "at least 32 random characters (e.g. openssl rand -base64 48)"
	}
	// A placeholder copied from an example is a key known to everyone.
	if l := strings.ToLower(s); strings.Contains(l, "change-me") || strings.Contains(l, "changeme") || len(distinct(s)) < 8 {
		return "a random value, not a placeholder (e.g. openssl rand -base64 48)"
	}
	return ""
}

func distinct(s string) map[rune]bool {
	m := map[rune]bool{}
	for _, r := range s {
		m[r] = true
	}
	return m
}
