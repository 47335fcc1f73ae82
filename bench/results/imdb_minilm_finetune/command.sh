cd /work/main
python launch.py --search imdb-minilm --data-dir ../shared/data --refit \
  --set fixed.max_train_samples=2000 --set fixed.max_valid_samples=500 --set fixed.n_epochs=1 \
  --set num_samples=6 --set max_test_samples=null --set resources.refit_workers=2 \
  --output-dir /work/bench-runs/out --storage-path /work/bench-runs/storage --name imdb-minilm-finetune
echo "exit status $?"
