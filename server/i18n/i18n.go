// Package i18n translates Sésame's messages, French first, English too.
//
// It wraps github.com/nicksnyder/go-i18n, which reads the YAML catalogues in
// locales/ and applies each language's CLDR plural rules (« 1 essai
// restant », « 2 essais restants »), and golang.org/x/text/language, which
// picks the best language from a browser's Accept-Language header.
package i18n

import (
	"embed"
	"fmt"
	"io/fs"
	"strings"
	"time"

	goi18n "github.com/nicksnyder/go-i18n/v2/i18n"
	"go.yaml.in/yaml/v3"
	"golang.org/x/text/language"
)

//go:embed locales/*.yaml
var locales embed.FS

// Languages lists the supported languages, the default first.
func Languages() []string { return []string{"fr", "en"} }

// Catalog holds every message in every language.
type Catalog struct {
	bundle  *goi18n.Bundle
	matcher language.Matcher
	loc     map[string]*Localizer
}

// New loads the embedded catalogues.
func New() (*Catalog, error) {
	b := goi18n.NewBundle(language.French)
	// The catalogues are read with go.yaml.in/yaml/v3, not with the goccy
	// parser that reads the school's file (for its errors that point at a
	// line and column): every start reads these 80 KB, which takes 3–4 ms
	// a language with it against 13–22 ms with goccy (measured; both read
	// the same messages).
	b.RegisterUnmarshalFunc("yaml", yaml.Unmarshal)
	files, err := fs.Glob(locales, "locales/*.yaml")
	if err != nil {
		return nil, fmt.Errorf("i18n: %w", err)
	}
	for _, f := range files {
		if _, err := b.LoadMessageFileFS(locales, f); err != nil {
			return nil, fmt.Errorf("i18n: load %s: %w", f, err)
		}
	}
	c := &Catalog{
		bundle:  b,
		matcher: language.NewMatcher([]language.Tag{language.French, language.English}),
		loc:     map[string]*Localizer{},
	}
	for _, l := range Languages() {
		c.loc[l] = &Localizer{lang: l, l: goi18n.NewLocalizer(b, l)}
	}
	return c, nil
}

// Supported reports whether lang is one of Languages().
func Supported(lang string) bool { return lang == "fr" || lang == "en" }

// Match picks the language for a request: the explicit choice (a cookie)
// when it is supported, else the best match for Accept-Language, else French.
func (c *Catalog) Match(choice, acceptLanguage string) string {
	if Supported(choice) {
		return choice
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return "fr"
	}
	_, i, conf := c.matcher.Match(tags...)
	if conf == language.No {
		return "fr"
	}
	return Languages()[i]
}

// For returns the localizer of lang, French when lang is unsupported.
func (c *Catalog) For(lang string) *Localizer {
	if l, ok := c.loc[lang]; ok {
		return l
	}
	return c.loc["fr"]
}

// Localizer translates into one language. It is safe for concurrent use.
type Localizer struct {
	lang string
	l    *goi18n.Localizer
}

// Lang is the localizer's language code.
func (l *Localizer) Lang() string { return l.lang }

// Clock writes a time of day as every page and mail does: « 23 h 59 » in
// French, « 23:59 » in English.
func (l *Localizer) Clock(at time.Time) string {
	return l.T("time.hm", "H", fmt.Sprintf("%02d", at.Hour()), "M", fmt.Sprintf("%02d", at.Minute()))
}

// T translates id. args are name/value pairs for the message's template;
// a pair named "Count" also selects the plural form. A missing message shows
// its id, which the catalogue test catches before it ships.
func (l *Localizer) T(id string, args ...any) string {
	cfg := &goi18n.LocalizeConfig{MessageID: id}
	if len(args) > 0 {
		data := make(map[string]any, len(args)/2)
		for i := 0; i+1 < len(args); i += 2 {
			k := fmt.Sprint(args[i])
			data[k] = args[i+1]
			if k == "Count" {
				cfg.PluralCount = args[i+1]
			}
		}
		cfg.TemplateData = data
	}
	s, err := l.l.Localize(cfg)
	if err != nil {
		return id
	}
	return strings.TrimSpace(s)
}
