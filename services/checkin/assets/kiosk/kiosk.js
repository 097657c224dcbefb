// The kiosk page: a keyboard-wedge scanner types a code and Enter into the focused input; the
// page posts it, shows the answer, and after a pause waits for the next person. The kiosk's
// credential is never here: the server attaches it to every scan.
(() => {
  "use strict";

  const resetAfterMs = Number(document.body.dataset.resetAfterMs) || 6000;
  const requestTimeoutMs = 10000;
  const screen = document.getElementById("screen");
  const icon = document.getElementById("icon");
  const messageVi = document.getElementById("message-vi");
  const messageEn = document.getElementById("message-en");
  const input = document.getElementById("scan");

  const ICONS = {
    idle: "▩",
    working: "…",
    accepted: "✔",
    already_recorded: "ℹ",
    outside_window: "⌛",
    suspended: "‖",
    terminated: "⊘",
    invalid: "✖",
    unavailable: "⚠",
  };

  // Texts the page owns: the service's own answers arrive with their messages.
  const IDLE = [
    "Mời quét mã QR trên phiếu hẹn điểm danh",
    "Please scan the QR code on your check-in notice",
  ];
  const WORKING = ["Đang kiểm tra…", "Checking…"];
  const NOT_A_CODE = [
    "Mã không hợp lệ. Xin mời liên hệ cán bộ tại quầy.",
    "This code is not valid. Please ask an officer at the desk.",
  ];
  const OUT_OF_SERVICE = [
    "Ki-ốt tạm ngừng phục vụ. Xin mời liên hệ cán bộ tại quầy.",
    "This kiosk is out of service. Please ask an officer at the desk.",
  ];
  const UNREACHABLE = [
    "Hệ thống đang bận. Xin mời quét lại sau ít phút.",
    "The system is busy. Please scan again in a few minutes.",
  ];

  let resetTimer = null;
  let busy = false;

  function show(outcome, [vi, en]) {
    const known = Object.prototype.hasOwnProperty.call(ICONS, outcome);
    const shown = known ? outcome : "invalid";
    screen.dataset.outcome = shown;
    icon.textContent = ICONS[shown];
    messageVi.textContent = vi;
    messageEn.textContent = en;
    clearTimeout(resetTimer);
    if (shown !== "idle" && shown !== "working") {
      resetTimer = setTimeout(() => show("idle", IDLE), resetAfterMs);
    }
  }

  function keepFocus() {
    if (document.activeElement !== input) {
      input.focus({ preventScroll: true });
    }
  }

  async function submit(text) {
    busy = true;
    show("working", WORKING);
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), requestTimeoutMs);
    try {
      const response = await fetch("/kiosk/scan", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ scanned_text: text }),
        cache: "no-store",
        signal: controller.signal,
      });
      const answer = await response.json().catch(() => null);
      if (response.ok && answer) {
        show(answer.outcome, [answer.message_vi, answer.message_en]);
      } else if (response.status === 400 || response.status === 413) {
        show("invalid", NOT_A_CODE);
      } else if (answer && answer.error === "kiosk_not_authorised") {
        show("unavailable", OUT_OF_SERVICE);
      } else {
        show("unavailable", UNREACHABLE);
      }
    } catch (_) {
      show("unavailable", UNREACHABLE);
    } finally {
      clearTimeout(timer);
      busy = false;
      keepFocus();
    }
  }

  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") {
      return;
    }
    event.preventDefault();
    const text = input.value.trim();
    input.value = "";
    if (text !== "" && !busy) {
      submit(text);
    }
  });

  // Whatever a person touches, the next scan must still land in the input.
  input.addEventListener("blur", () => setTimeout(keepFocus, 0));
  document.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    keepFocus();
  });
  window.addEventListener("focus", keepFocus);
  setInterval(keepFocus, 500);

  // Browsers allow full screen only after a user action; the first scan is one.
  document.addEventListener(
    "keydown",
    () => {
      const root = document.documentElement;
      if (!document.fullscreenElement && root.requestFullscreen) {
        root.requestFullscreen().catch(() => {});
      }
    },
    { once: true },
  );

  show("idle", IDLE);
  keepFocus();
})();
