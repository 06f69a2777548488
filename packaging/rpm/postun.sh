if [ "$1" -eq 0 ]; then
  rm -rf /var/log/tether
  getent passwd tether >/dev/null && userdel tether >/dev/null 2>&1 || true
fi
exit 0
