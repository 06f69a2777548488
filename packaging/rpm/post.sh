getent group tether >/dev/null || groupadd -r tether
getent passwd tether >/dev/null || useradd -r -g tether -d /nonexistent -s /sbin/nologin tether
install -d -m 0750 -o tether -g tether /var/log/tether
if [ -d /run/systemd/system ]; then
  systemctl daemon-reload >/dev/null 2>&1 || true
  if [ "$1" -gt 1 ] && systemctl is-active --quiet tether; then systemctl reload tether || true; fi
fi
exit 0
