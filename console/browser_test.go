package console

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"github.com/riskmon/riskmon/alerting"
	"github.com/riskmon/riskmon/sensors"
)

// chromiumInstall is what a machine needs for TestBrowserBoard; the
// Makefile's deps target installs it.
const chromiumInstall = "apt-get install -y chromium"

// chromium finds the browser: $RISKMON_CHROMIUM, else Debian's
// /usr/bin/chromium. A missing browser fails the test rather than skipping
// it, so that CI (CI=true) can never pass without having run the console in
// a real browser.
func chromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("RISKMON_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if fi, err := os.Stat(path); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no browser at %s: the console browser test must run in CI; install it with `%s` (as root) or set RISKMON_CHROMIUM", path, chromiumInstall)
		}
		t.Fatalf("no browser at %s: install it with `%s` (as root), or point RISKMON_CHROMIUM at a Chromium binary", path, chromiumInstall)
	}
	return path
}

// browser starts a headless Chromium for the test and returns its tab's
// context and a func that returns the console errors seen so far.
func browser(t *testing.T) (context.Context, func() []string) {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container has no user namespace to sandbox with
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		// The machine may have no internet: keep Chromium from trying.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // containers have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1600, 1000),
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)

	var (
		mu   sync.Mutex
		errs []string
	)
	// Console starts the browser; the iteration ends when ctx is cancelled.
	messages := chromedp.Console(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range messages {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				mu.Lock()
				errs = append(errs, fmt.Sprintf("%s (%s:%d)", m, m.URL, m.Line+1))
				mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		<-done
	})
	return ctx, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), errs...)
	}
}

// step runs actions with a timeout, failing the test with what was being
// waited for.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func eval[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// saveArtifact writes a file to the test's temp dir and, when
// $RISKMON_ARTIFACTS is set, there too, for CI to keep.
func saveArtifact(t *testing.T, name string, data []byte) {
	t.Helper()
	dirs := []string{t.TempDir()}
	if d := os.Getenv("RISKMON_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("saved %s (%d bytes)", p, len(data))
	}
}

// TestBrowserBoard serves the console to a real headless Chromium and
// checks that a fired alert reaches the board over the stream without a
// reload, raises the banner, and leaves the board when it resolves.
func TestBrowserBoard(t *testing.T) {
	h := NewHub(testRegistry(t), HubOptions{})
	// Some state before the browser connects, loaded by its first resync.
	pre := []alerting.Event{
		ev("pre-red", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-2", 0),
		ev("pre-yellow", alerting.EventFired, sensors.LevelYellow, "mine-b", "ch4-1", 1),
		ev("pre-blue", alerting.EventFired, sensors.LevelBlue, "station-c", "p-1", 2),
	}
	pre[1].Rule, pre[1].Kind, pre[1].Unit, pre[1].Value, pre[1].Setpoint = "ch4_rising", "ch4", "%CH4", 0.62, 0.5
	pre[2].Rule, pre[2].Kind, pre[2].Unit, pre[2].Value, pre[2].Setpoint = "line_pressure_forecast", "line_pressure", "MPa", 6.1, 6.3
	now := time.Now().UTC()
	for i := range pre {
		pre[i].At, pre[i].StartsAt = now.Add(-time.Duration(30-i)*time.Minute), now.Add(-time.Duration(30-i)*time.Minute)
		h.Event(pre[i])
	}
	h.Readings([]sensors.Reading{
		{Site: "plant-a", Sensor: "gas-1", Value: 3, Time: now},
		{Site: "plant-a", Sensor: "gas-2", Value: 52, Time: now},
		{Site: "mine-b", Sensor: "ch4-1", Value: 0.62, Time: now},
		{Site: "station-c", Sensor: "p-1", Value: 6.1, Time: now},
	})
	srv := httptest.NewServer(Handler(h, Options{ReadingsEvery: 100 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ctx, consoleErrors := browser(t)
	t.Cleanup(func() {
		// Close the page before the server, so the stream ends first.
		_ = chromedp.Do(ctx, chromedp.Navigate("about:blank"))
	})

	step(t, ctx, "open the console",
		chromedp.EmulateViewport(1600, 1000),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#conn.conn-live`)),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="pre-red"].lvl-1`)),
		chromedp.WaitVisible(chromedp.CSS(`#sites .tile[data-site="plant-a"][data-level="1"]`)),
	)
	step(t, ctx, "open a site's sensors",
		chromedp.Click(chromedp.CSS(`#sites .tile[data-site="plant-a"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sensor-rows tr[data-sensor="gas-2"]`)),
	)
	if text := eval[string](t, ctx, `document.querySelector('#sensor-rows tr[data-sensor="gas-2"]').textContent`); !strings.Contains(text, "52 %LEL") {
		t.Errorf("gas-2 row %q lacks its latest value 52 %%LEL", text)
	}
	if lang := eval[string](t, ctx, `document.documentElement.lang`); lang != "zh-CN" {
		t.Errorf("default language %q, want zh-CN", lang)
	}
	// A marker that a reload would wipe.
	eval[string](t, ctx, `window.__noReload = 'same page'`)

	fired := ev("live-orange", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	fired.At, fired.StartsAt, fired.Value, fired.Setpoint = now, now, 27.5, 25
	fired.Message = "combustible gas 27.5 %LEL at or above 25 %LEL"
	h.Event(fired)
	step(t, ctx, "see the fired orange alert on the board",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-orange"].lvl-2`)),
		chromedp.WaitVisible(chromedp.CSS(`#banner.lvl-2`)),
		chromedp.WaitVisible(chromedp.CSS(`#sites .tile[data-site="plant-a"][data-level="1"]`)),
	)
	order := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#board tbody tr')).map(r => r.dataset.id)`)
	if want := []string{"pre-red", "live-orange", "pre-yellow", "pre-blue"}; strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("board order %v, want %v (level, then newest)", order, want)
	}
	if m := eval[string](t, ctx, `String(window.__noReload)`); m != "same page" {
		t.Fatalf("the page reloaded to show the alert (marker %q)", m)
	}
	// Let the board pulse settle so the screenshot shows steady colours.
	time.Sleep(600 * time.Millisecond)
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if len(shot) < 8 || string(shot[1:4]) != "PNG" {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(shot))
	}
	saveArtifact(t, "console-board.png", shot)

	resolved := ev("live-orange", alerting.EventResolved, sensors.LevelOrange, "plant-a", "gas-1", 0)
	resolved.At, resolved.StartsAt, resolved.Value, resolved.Setpoint = now.Add(time.Minute), now, 21, 23
	h.Event(resolved)
	// Under the alert lifecycle a cleared alert nobody acknowledged stays
	// on the board, marked resolved, until it is acknowledged.
	step(t, ctx, "see the resolved alert stay, marked, until acknowledged",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-orange"][data-state="resolved"]`)),
	)
	// The acknowledgement of the resolved alert takes it off the board;
	// the stream keeps order, so once the second shows, the first has
	// been applied.
	for _, id := range []string{"live-orange", "pre-yellow"} {
		a := ev(id, alerting.EventAcknowledged, sensors.LevelNone, "plant-a", "gas-1", 0)
		a.At, a.By, a.Comment = now.Add(2*time.Minute), "zhang.wei", "crew on the way"
		h.Event(a)
	}
	step(t, ctx, "see the acknowledgement",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="pre-yellow"][data-acknowledged="true"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#board tr[data-id="live-orange"]`)),
	)
	if n := eval[int](t, ctx, `document.querySelectorAll('#board tbody tr').length`); n != 3 {
		t.Errorf("%d rows after the resolve, want the 3 others", n)
	}
	if m := eval[string](t, ctx, `String(window.__noReload)`); m != "same page" {
		t.Fatalf("the page reloaded to drop the alert (marker %q)", m)
	}

	step(t, ctx, "switch to English", chromedp.Click(chromedp.ID("lang")))
	if title := eval[string](t, ctx, `document.querySelector('h1').textContent`); title != "Hazard monitoring console" {
		t.Errorf("title after switching language: %q", title)
	}
	if errs := consoleErrors(); len(errs) > 0 {
		t.Errorf("JavaScript console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// TestBrowserAck logs in as an operator, sees an alert raised live,
// acknowledges it from the board with a comment and sees its state change;
// sees a latched level-1 alert stay until acknowledged; then logs in as a
// viewer and finds no acknowledge button.
func TestBrowserAck(t *testing.T) {
	hash := func(pw string) string {
		b, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	auth, err := NewAuth(AuthOptions{Users: []User{
		{Name: "wang", PasswordHash: hash("op-pass"), Role: RoleOperator},
		{Name: "li", PasswordHash: hash("view-pass"), Role: RoleViewer},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := NewHub(testRegistry(t), HubOptions{})
	life := alerting.NewLifecycle(h, alerting.LifecycleOptions{LatchRed: true})
	srv := httptest.NewServer(Handler(h, Options{Auth: auth, Acker: life, ReadingsEvery: 100 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ctx, consoleErrors := browser(t)
	t.Cleanup(func() { _ = chromedp.Do(ctx, chromedp.Navigate("about:blank")) })

	login := func(user, pw string) {
		t.Helper()
		step(t, ctx, "log in as "+user,
			chromedp.WaitVisible(chromedp.ID("login-user")),
			chromedp.SendKeys(chromedp.ID("login-user"), user),
			chromedp.SendKeys(chromedp.ID("login-password"), pw),
			chromedp.Click(chromedp.ID("login-submit")),
			chromedp.WaitVisible(chromedp.CSS(`#conn.conn-live`)),
			chromedp.WaitNotVisible(chromedp.ID("login")),
			// Wait for the first load, so it cannot redraw the board under
			// the clicks that follow.
			chromedp.WaitReady(chromedp.CSS(`#board[data-loaded="true"]`)),
		)
	}
	step(t, ctx, "open the console", chromedp.EmulateViewport(1600, 1000), chromedp.Navigate(srv.URL+"/"))
	step(t, ctx, "a wrong password is refused",
		chromedp.WaitVisible(chromedp.ID("login-user")),
		chromedp.SendKeys(chromedp.ID("login-user"), "wang"),
		chromedp.SendKeys(chromedp.ID("login-password"), "guess"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#login-error:not(:empty)`)),
	)
	eval[string](t, ctx, `document.getElementById('login-user').value = ''`)
	login("wang", "op-pass")

	now := time.Now().UTC()
	fired := ev("live-orange", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-1", 0)
	fired.At, fired.StartsAt = now, now
	life.Emit(fired)
	step(t, ctx, "see the alert raised live, with an acknowledge button",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-orange"] button.ack-btn`)),
		chromedp.SendKeys(chromedp.CSS(`#board tr[data-id="live-orange"] input.ack-comment`), "valve shut"),
		chromedp.Click(chromedp.CSS(`#board tr[data-id="live-orange"] button.ack-btn`)),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-orange"][data-acknowledged="true"]`)),
	)
	rec, ok := life.Get("live-orange")
	if !ok || rec.State != alerting.StateActiveAcked || rec.AckedBy != "wang" || rec.Comment != "valve shut" {
		t.Fatalf("lifecycle after the board's ack: %+v", rec)
	}

	// A red alert that clears unseen latches and stays.
	red := ev("live-red", alerting.EventFired, sensors.LevelRed, "plant-a", "gas-2", 0)
	red.At, red.StartsAt = now, now
	life.Emit(red)
	gone := ev("live-red", alerting.EventResolved, sensors.LevelRed, "plant-a", "gas-2", 0)
	gone.At, gone.StartsAt = now.Add(time.Second), now
	life.Emit(gone)
	step(t, ctx, "see the cleared red alert latched on the board",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-red"][data-state="resolved"][data-lifecycle="latched"] button.ack-btn`)),
	)
	time.Sleep(600 * time.Millisecond) // let the highlight settle for the screenshot
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	saveArtifact(t, "console-ack.png", shot)
	step(t, ctx, "acknowledge the latched alert and see it leave",
		chromedp.Click(chromedp.CSS(`#board tr[data-id="live-red"] button.ack-btn`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#board tr[data-id="live-red"]`)),
	)

	// A viewer sees the board but cannot acknowledge.
	second := ev("live-yellow", alerting.EventFired, sensors.LevelYellow, "mine-b", "ch4-1", 0)
	second.At, second.StartsAt = now, now
	life.Emit(second)
	step(t, ctx, "log out", chromedp.Click(chromedp.ID("logout")), chromedp.WaitVisible(chromedp.ID("login")))
	login("li", "view-pass")
	step(t, ctx, "see the unacknowledged alert as a viewer",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="live-yellow"][data-acknowledged="false"]`)),
	)
	if n := eval[int](t, ctx, `document.querySelectorAll('#board button.ack-btn').length`); n != 0 {
		t.Errorf("a viewer sees %d acknowledge buttons", n)
	}
	if who := eval[string](t, ctx, `document.getElementById('who').textContent`); !strings.Contains(who, "li") {
		t.Errorf("header shows %q, want the viewer's name", who)
	}
	var errs []string
	for _, e := range consoleErrors() {
		// Chromium logs the expected 401s: "who am I" before logging in,
		// and the wrong password.
		if strings.Contains(e, "status of 401") && (strings.Contains(e, "/api/v1/me") || strings.Contains(e, "/api/v1/login")) {
			continue
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		t.Errorf("JavaScript console errors:\n%s", strings.Join(errs, "\n"))
	}
}
