package console

import (
	"context"
	"errors"
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
	"github.com/riskmon/riskmon/alerting/lifecycle"
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

// clickAgain clicks the node sel selects, as chromedp.Click does, and
// selects it again when the console redrew it between the query and the
// click: the board, the site tiles and the sensor rows are redrawn on
// updates, and a node replaced meanwhile is gone ("Could not find node
// with given id"). A user's click lands on the redrawn node; so does
// this one. The error comes before any input event is sent, so no click
// is sent twice.
func clickAgain(sel string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		for {
			v, err := chromedp.Click(chromedp.CSS(sel))(ctx, t)
			if err == nil || !strings.Contains(err.Error(), "Could not find node with given id") || ctx.Err() != nil {
				return v, err
			}
		}
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

// waitJS waits until a JavaScript expression is true.
func waitJS(t *testing.T, ctx context.Context, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !eval[bool](t, ctx, expr) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s stayed false", what, expr)
		}
		time.Sleep(50 * time.Millisecond)
	}
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
		clickAgain(`#sites .tile[data-site="plant-a"]`),
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
		chromedp.WaitVisible(chromedp.CSS(`#banners .banner.lvl-2[data-alert-id="live-orange"]`)),
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
	life := lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{LatchRed: true})
	h := NewHub(testRegistry(t), HubOptions{Alerts: life})
	life.SetNext(h)
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
		clickAgain(`#board tr[data-id="live-orange"] button.ack-btn`),
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
		clickAgain(`#board tr[data-id="live-red"] button.ack-btn`),
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

// TestBrowserShelveSensorHealth logs in as an operator and: shelves an
// alert from the board and sees it move to the shelved group and the list
// of shelves, ends the shelf and sees it come back; turns sound on and
// hears (counts) a beep for a new red alert; opens a sensor page from the
// site overview and finds the chart with one line per setpoint and the
// alert timeline; opens the alarm-system health view; and checks that in
// a narrow window the board stays inside its panel with one line per
// alert. Screenshots of each go to the artifacts.
func TestBrowserShelveSensorHealth(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("op-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(AuthOptions{Users: []User{{Name: "wang", PasswordHash: string(hash), Role: RoleOperator}}})
	if err != nil {
		t.Fatal(err)
	}
	reg := testRegistry(t)
	life := lifecycle.NewLifecycle(nil, lifecycle.LifecycleOptions{})
	h := NewHub(reg, HubOptions{Alerts: life})
	health, err := lifecycle.NewHealth(h, lifecycle.HealthOptions{})
	if err != nil {
		t.Fatal(err)
	}
	life.SetNext(health)
	shelver := newFakeShelver(time.Now)
	now := time.Now().UTC()
	// Seventy minutes of gas-1 every 5 s: a slow wave with one spike over
	// the orange setpoint, so the chart has something to show.
	var raw []sensors.Reading
	for i := range 70 * 12 {
		at := now.Add(-70*time.Minute + time.Duration(i)*5*time.Second)
		v := 8 + 6*float64(i%120)/120
		if i == 70*12-60 {
			v = 31
		}
		raw = append(raw, sensors.Reading{Site: "plant-a", Sensor: "gas-1", Value: v, Time: at})
	}
	series := &fakeSeries{raw: raw}
	h.Readings([]sensors.Reading{{Site: "plant-a", Sensor: "gas-1", Value: 13, Time: now}})
	srv := httptest.NewServer(Handler(h, Options{Auth: auth, Acker: life, Shelver: shelver, Health: health, Series: series,
		Rules: engineRules(reg), ReadingsEvery: 100 * time.Millisecond}))
	t.Cleanup(srv.Close)
	ctx, consoleErrors := browser(t)
	t.Cleanup(func() { _ = chromedp.Do(ctx, chromedp.Navigate("about:blank")) })
	shoot := func(name string) {
		t.Helper()
		time.Sleep(600 * time.Millisecond) // let highlights settle
		shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		saveArtifact(t, name, shot)
	}

	step(t, ctx, "log in",
		chromedp.EmulateViewport(1600, 1000),
		chromedp.Navigate(srv.URL+"/"),
		chromedp.WaitVisible(chromedp.ID("login-user")),
		chromedp.SendKeys(chromedp.ID("login-user"), "wang"),
		chromedp.SendKeys(chromedp.ID("login-password"), "op-pass"),
		chromedp.Click(chromedp.ID("login-submit")),
		chromedp.WaitVisible(chromedp.CSS(`#conn.conn-live`)),
		chromedp.WaitReady(chromedp.CSS(`#board[data-loaded="true"]`)),
		chromedp.WaitVisible(chromedp.ID("shelves-panel")),
	)
	emit := func(id string, lv sensors.Level, sensor string, mins int) {
		e := ev(id, alerting.EventFired, lv, "plant-a", sensor, 0)
		e.At, e.StartsAt = now.Add(-time.Duration(mins)*time.Minute), now.Add(-time.Duration(mins)*time.Minute)
		e.Message = "combustible gas at or above the setpoint, detector " + sensor + " near the tank farm's north loading bay"
		life.Emit(e)
	}
	emit("gas1-orange", sensors.LevelOrange, "gas-1", 5)
	emit("gas2-yellow", sensors.LevelYellow, "gas-2", 3)
	late := ev("gas2-late", alerting.EventFired, sensors.LevelOrange, "plant-a", "gas-2", 0)
	late.Rule, late.At, late.StartsAt, late.Late, late.Flapping = "combustible_gas_rate", now.Add(-40*time.Minute), now.Add(-40*time.Minute), true, true
	life.Emit(late)
	red := ev("ch4-red", alerting.EventFired, sensors.LevelRed, "mine-b", "ch4-1", 0)
	red.Rule = "ch4_high"
	life.Emit(red)

	// An operator may shelve one alarm that is not red: a red row offers
	// no shelve button, and the form offers no out-of-service.
	step(t, ctx, "see the red alarm on the board",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="ch4-red"][data-group="active"] button.ack-btn`)))
	if n := eval[int](t, ctx, `document.querySelectorAll('#board tr[data-id="ch4-red"] button.shelve-btn').length`); n != 0 {
		t.Errorf("an operator is offered %d shelve buttons on a red alarm, want none", n)
	}

	step(t, ctx, "shelve the orange alert from its row",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="gas1-orange"][data-group="active"] button.shelve-btn`)),
		clickAgain(`#board tr[data-id="gas1-orange"] button.shelve-btn`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr.shelve-row[data-for="gas1-orange"] input.shelve-reason`)),
		chromedp.SendKeys(chromedp.CSS(`#board tr.shelve-row input.shelve-reason`), "detector being cleaned"),
		chromedp.SetValue(chromedp.CSS(`#board tr.shelve-row select[name="duration"]`), "1h"),
	)
	// SetValue fires no input event; tell the form as a user's change would.
	eval[bool](t, ctx, `document.querySelector('#board tr.shelve-row select[name="duration"]').dispatchEvent(new Event('input'))`)
	if modes := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#board tr.shelve-row select[name="mode"] option')).map((o) => o.value)`); len(modes) != 1 || modes[0] != "shelved" {
		t.Errorf("an operator is offered shelve modes %v, want only shelved", modes)
	}
	step(t, ctx, "see it move to the shelved group and the list of shelves",
		clickAgain(`#board tr.shelve-row button.shelve-submit`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="gas1-orange"][data-group="shelved"] .badge-shelved`)),
		chromedp.WaitVisible(chromedp.CSS(`#shelves tr.shelf[data-id="s1"] button.end-shelf`)),
	)
	shelves := shelver.Shelves()
	if len(shelves) != 1 || shelves[0].Match != (lifecycle.Matcher{Site: "plant-a", Sensor: "gas-1", Rule: "combustible_gas_high"}) ||
		shelves[0].By != "wang" || shelves[0].Reason != "detector being cleaned" || shelves[0].Expires.Sub(shelves[0].Created) != time.Hour {
		t.Fatalf("shelves after the board's shelve: %+v", shelves)
	}
	order := eval[[]string](t, ctx, `Array.from(document.querySelectorAll('#board tbody tr')).map(r => r.dataset.id || r.className)`)
	if want := "ch4-red,gas2-late,gas2-yellow,group-row,gas1-orange"; strings.Join(order, ",") != want {
		t.Errorf("board rows %v, want %s (active first, then the shelved group)", order, want)
	}
	marks := eval[string](t, ctx, `Array.from(document.querySelectorAll('#board tr[data-id="gas2-late"] .badge')).map(b => b.textContent).join(',')`)
	if marks != "抖动,补报" {
		t.Errorf("late flapping alert marked %q, want 抖动,补报", marks)
	}
	boardFits(t, ctx, "1600 px window, shelve form open")
	shoot("console-shelve.png")
	// An event raised under the shelf carries its mark, as the service
	// sends it: the alert stays set aside while the shelf holds, and
	// comes back once it ends, mark or not.
	esc := ev("gas1-orange", alerting.EventEscalated, sensors.LevelRed, "plant-a", "gas-1", 0)
	esc.PrevLevel, esc.Shelved = sensors.LevelOrange, "s1"
	esc.At, esc.StartsAt = now, now.Add(-5*time.Minute)
	life.Emit(esc)
	step(t, ctx, "a marked escalation stays in the shelved group",
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="gas1-orange"][data-group="shelved"][data-level="1"]`)),
	)
	if n := eval[int](t, ctx, `document.querySelectorAll('#banners .banner[data-alert-id="gas1-orange"]').length`); n != 0 {
		t.Errorf("an escalation under a shelf raised a banner")
	}
	step(t, ctx, "end the shelf and see the alert come back",
		clickAgain(`#shelves tr.shelf[data-id="s1"] button.end-shelf`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="gas1-orange"][data-group="active"]`)),
		chromedp.WaitNotPresent(chromedp.CSS(`#shelves tr.shelf`)),
	)
	if calls := strings.Join(shelver.calls(), "|"); calls != "shelve s1 by wang|unshelve s1 by wang" {
		t.Errorf("shelver calls %q", calls)
	}
	// A shelf set elsewhere (an admin, through the API) of a rule with no
	// alarm on the board is still listed in words, not by its id.
	if _, err := shelver.Shelve(lifecycle.ShelfRequest{Mode: lifecycle.ModeShelved, Match: lifecycle.Matcher{Site: "mine-b", Rule: "ch4_low"},
		Reason: "ventilation work", By: "admin", Duration: time.Hour, Admin: true}); err != nil {
		t.Fatal(err)
	}
	h.shelvesChanged()
	step(t, ctx, "see a shelf of a rule with no alarm on the board",
		chromedp.WaitVisible(chromedp.CSS(`#shelves tr.shelf[data-id="s2"]`)))
	if scope := eval[string](t, ctx, `document.querySelector('#shelves tr.shelf[data-id="s2"] td.id').textContent`); !strings.Contains(scope, "甲烷低限报警") || strings.Contains(scope, "ch4_low") {
		t.Errorf("shelf scope %q, want the rule in words", scope)
	}
	if _, err := shelver.Unshelve("s2", "admin"); err != nil {
		t.Fatal(err)
	}
	h.shelvesChanged()
	step(t, ctx, "the shelf ended elsewhere leaves the list", chromedp.WaitNotPresent(chromedp.CSS(`#shelves tr.shelf`)))
	// A refusal reads in the console's language: the alarm turned red
	// between the form and the click, so the shelver says it needs an
	// admin (403), in English and by code.
	shelver.setRefuse(fmt.Errorf("%w: %w", lifecycle.ErrShelfNeedsAdmin,
		&lifecycle.ShelfRefusal{Code: lifecycle.RefusedRedAlarm, Err: errors.New("shelving a red alarm (combustible_gas_high at plant-a/gas-2 is red now)")}))
	step(t, ctx, "be refused shelving an alarm that turned red",
		clickAgain(`#board tr[data-id="gas2-yellow"] button.shelve-btn`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr.shelve-row[data-for="gas2-yellow"] input.shelve-reason`)),
		chromedp.SendKeys(chromedp.CSS(`#board tr.shelve-row input.shelve-reason`), "sensor wash"),
		clickAgain(`#board tr.shelve-row button.shelve-submit`),
		chromedp.WaitVisible(chromedp.CSS(`#board tr.shelve-row .ack-error`)),
	)
	if msg := eval[string](t, ctx, `document.querySelector('#board tr.shelve-row .ack-error').textContent`); msg != "搁置失败：搁置红色报警需管理员权限" {
		t.Errorf("refusal on the zh-CN board %q, want it in Chinese", msg)
	}
	shoot("console-shelve-refused.png")
	shelver.setRefuse(nil)
	step(t, ctx, "close the form", clickAgain(`#board tr.shelve-row button.shelve-cancel`),
		chromedp.WaitNotPresent(chromedp.CSS(`#board tr.shelve-row`)))

	// Sound is on unless a console turned it off.
	step(t, ctx, "sound is on by default", chromedp.WaitVisible(chromedp.CSS(`#sound.on[aria-pressed="true"]`)))
	step(t, ctx, "turn sound off", chromedp.Click(chromedp.ID("sound")), chromedp.WaitVisible(chromedp.CSS(`#sound:not(.on)[aria-pressed="false"]`)))
	if v := eval[string](t, ctx, `localStorage.getItem('riskmon.sound')`); v != "off" {
		t.Errorf("sound setting kept as %q, want off", v)
	}
	step(t, ctx, "turn sound on again", chromedp.Click(chromedp.ID("sound")), chromedp.WaitVisible(chromedp.CSS(`#sound.on[aria-pressed="true"]`)))
	before := eval[int](t, ctx, `Number(document.body.dataset.beeps || 0)`)
	emit("gas2-red", sensors.LevelRed, "gas-2", 0)
	waitJS(t, ctx, "hear the new red alert", fmt.Sprintf(`Number(document.body.dataset.beeps || 0) > %d`, before))
	step(t, ctx, "see its banner", chromedp.WaitVisible(chromedp.CSS(`#banners .banner.lvl-1[data-alert-id="gas2-red"]`)))

	step(t, ctx, "open the sensor page from the site overview",
		clickAgain(`#sites .tile[data-site="plant-a"]`),
		chromedp.WaitVisible(chromedp.CSS(`#sensor-rows tr[data-sensor="gas-1"] a.sensor-link`)),
		clickAgain(`#sensor-rows tr[data-sensor="gas-1"] a.sensor-link`),
		chromedp.WaitReady(chromedp.CSS(`#view-sensor[data-loaded="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#sensor-chart svg.series-chart polyline.mean`)),
	)
	sn, _ := reg.Lookup("plant-a", "gas-1")
	wantLines := len(sn.EffectiveSetpoints())
	if wantLines < 2 {
		t.Fatalf("gas-1 has %d setpoints; the test wants a sensor with two levels", wantLines)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#sensor-chart svg g.setpoint line.setpoint-line').length`); n != wantLines {
		t.Errorf("%d setpoint lines, want %d", n, wantLines)
	}
	colours := eval[string](t, ctx, `Array.from(document.querySelectorAll('#sensor-chart svg g.setpoint')).map(g => g.getAttribute('class') + ':' + getComputedStyle(g.querySelector('line')).stroke).join(' ')`)
	if !strings.Contains(colours, "sp-orange:rgb(251, 140, 0)") || !strings.Contains(colours, "sp-red:rgb(229, 57, 53)") {
		t.Errorf("setpoint line colours %q, want orange and red", colours)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#sensor-chart svg polygon.band').length`); n < 1 {
		t.Errorf("no min-max band drawn")
	}
	// The spike is in the band: its top reaches above the orange line.
	above := eval[bool](t, ctx, `(() => {
		const y = Number(document.querySelector('#sensor-chart g.sp-orange line').getAttribute('y1'));
		const pts = document.querySelector('#sensor-chart polygon.band').getAttribute('points').split(' ').map(p => Number(p.split(',')[1]));
		return Math.min(...pts) < y; })()`)
	if !above {
		t.Errorf("the 31 %%LEL spike does not reach above the orange setpoint line")
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#sensor-timeline li[data-alert-id="gas1-orange"]').length`); n != 2 {
		t.Errorf("timeline has %d events of gas1-orange, want its fired and its escalation", n)
	}
	// The rules the engine reads the sensor by, in words, with its
	// setpoints: what rules show prints.
	rules := eval[string](t, ctx, `Array.from(document.querySelectorAll('#sensor-rules-rows tr')).map(r => r.textContent).join('\n')`)
	if !strings.Contains(rules, "可燃气体高限报警") || !strings.Contains(rules, "≥25") || !strings.Contains(rules, "≥50") ||
		strings.Contains(rules, "combustible_gas_high") || strings.Contains(rules, "level_") {
		t.Errorf("the sensor page's rules:\n%s\nwant the high alarm in words with its 25 and 50 %%LEL setpoints, no rule id", rules)
	}
	if len(series.queries) == 0 || series.queries[0].Step != 5*time.Second {
		t.Errorf("series queries %+v, want the last hour in 5 s buckets", series.queries)
	}
	shoot("console-sensor.png")

	step(t, ctx, "open the alarm-system health view",
		chromedp.Click(chromedp.ID("nav-health")),
		chromedp.WaitReady(chromedp.CSS(`#view-health[data-loaded="true"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#health-chart svg.rate-chart line.flood-line`)),
	)
	if bars := eval[int](t, ctx, `Array.from(document.querySelectorAll('#health-chart rect.bar')).reduce((n, b) => n + Number(b.dataset.count), 0)`); bars != 5 {
		t.Errorf("rate bars count %d alarms, want the 5 fired", bars)
	}
	if v := eval[string](t, ctx, `document.querySelector('#health-figures .fig[data-key="h_last10"] .fig-value').textContent`); v != "5" {
		t.Errorf("last 10 minutes shows %q, want 5", v)
	}
	if v := eval[string](t, ctx, `document.querySelector('#health-figures .fig[data-key="h_flapping"] .fig-value').textContent`); v != "1" {
		t.Errorf("held flapping shows %q, want 1 (the late flapping alert)", v)
	}
	if n := eval[int](t, ctx, `document.querySelectorAll('#health-rules tbody tr').length`); n != 3 {
		t.Errorf("%d top rules, want 3", n)
	}
	if rules := eval[string](t, ctx, `document.getElementById('health-rules').innerText`); !strings.Contains(rules, "可燃气体高限报警") || strings.Contains(rules, "_high") {
		t.Errorf("top rules in Chinese: %q, want names, not rule ids", rules)
	}
	shoot("console-health.png")

	step(t, ctx, "back to the board in a narrow window",
		chromedp.EmulateViewport(1000, 800),
		chromedp.Click(chromedp.ID("nav-board")),
		chromedp.WaitVisible(chromedp.CSS(`#board tr[data-id="gas2-red"]`)),
	)
	boardFits(t, ctx, "1000 px window")
	shoot("console-narrow.png")
	step(t, ctx, "switch to English", chromedp.Click(chromedp.ID("lang")))
	if s := eval[string](t, ctx, `document.getElementById('sound').textContent`); s != "Sound on" {
		t.Errorf("sound button in English: %q", s)
	}
	var errs []string
	for _, e := range consoleErrors() {
		if strings.Contains(e, "status of 401") && strings.Contains(e, "/api/v1/me") {
			continue // who am I, before logging in
		}
		if strings.Contains(e, "status of 403") && strings.Contains(e, "/api/v1/shelves") {
			continue // the refused shelve, asked for above
		}
		errs = append(errs, e)
	}
	if len(errs) > 0 {
		t.Errorf("JavaScript console errors:\n%s", strings.Join(errs, "\n"))
	}
}

// boardFits checks that the alert board stays inside its panel (no
// sideways scrolling) with every alert in its two lines.
func boardFits(t *testing.T, ctx context.Context, when string) {
	t.Helper()
	fit := eval[map[string]float64](t, ctx, `(() => {
		const panel = document.querySelector('.board-panel .table-scroll');
		const rows = Array.from(document.querySelectorAll('#board tbody tr[data-id]')).map(r => r.getBoundingClientRect().height);
		return {scroll: panel.scrollWidth, width: panel.clientWidth, tallest: Math.max(...rows),
			line: parseFloat(getComputedStyle(document.body).lineHeight)}; })()`)
	if fit["scroll"] > fit["width"] {
		t.Errorf("%s: the board is %.0f px wide in a %.0f px panel", when, fit["scroll"], fit["width"])
	}
	// Two lines by design (what, then the procedure); a third is text
	// wrapping.
	if fit["tallest"] > 3*fit["line"] {
		t.Errorf("%s: a board row is %.0f px tall (line %.0f px): it wraps", when, fit["tallest"], fit["line"])
	}
}
