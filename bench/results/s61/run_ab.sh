cd /work/main
export PYTHONPATH=. NBMF_PRIMED_CACHE=off
for spec in "financial out/trainpath-s58f 150" "legal out/trainpath-s58f 78" "technical out/trainpath-s58g 150"; do
  set -- $spec
  echo "$(date +%T) python bench/cm_change_ab.py $1 $2 '{\"nibbles\": true}' --records $3 --rounds 4"
  .venv/bin/python bench/cm_change_ab.py $1 $2 '{"nibbles": true}' --records $3 --rounds 4 2>&1 | grep -v Warning
done
echo "$(date +%T) end"
