-- Oracle for evr's tests, run inside the real rpm: rpm --eval '%{lua: dofile("rpm_vercmp.lua")}'.
-- Reads lines "<hex a> <hex b>" from stdin and writes one line per pair: rpm.vercmp(a, b)
-- (-1, 0 or 1), or "E" when rpm rejects an argument. A line "." flushes the answers so far.
local function unhex(h)
  return (h:gsub("%x%x", function(x) return string.char(tonumber(x, 16)) end))
end

local out = io.stdout
for line in io.stdin:lines() do
  if line == "." then
    out:flush()
  else
    local ha, hb = line:match("^(%x*) (%x*)$")
    local ok, r = pcall(rpm.vercmp, unhex(ha or ""), unhex(hb or ""))
    out:write(ok and tostring(r) or "E", "\n")
  end
end
out:flush()
