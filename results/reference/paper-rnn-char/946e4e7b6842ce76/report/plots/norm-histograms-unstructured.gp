# blkrew plot 'norm-histograms-unstructured', generated from the run's records (deterministic).
# Data: norm-histograms-unstructured.csv (first row: column names). Draw it here with: gnuplot norm-histograms-unstructured.gp
if (!exists("outfile")) outfile = 'norm-histograms-unstructured.svg'
set encoding utf8
set terminal svg size 640,360 dynamic noenhanced font 'sans,11' background rgb 'white'
set output outfile
set datafile separator ','
set datafile missing ''
set title 'Group norms: unstructured 1x1 R32 seed 1'
set grid
set key outside right top
set style fill transparent solid 0.45 noborder
set key inside top left
set multiplot layout 1,1 title 'Group norms: unstructured 1x1 R32 seed 1'
set title 'gru.weight_hh_l0 (zeros 0 → 0; below range 1 → 1)'
set xlabel 'log10 group norm'
set ylabel 'groups'
plot 'norm-histograms-unstructured.csv' skip 1 every ::0::23 using 5:6:($4-$3) with boxes lc rgb '#1f77b4' title 'before regularization', \
     '' skip 1 every ::24::47 using 5:6:($4-$3) with boxes lc rgb '#d62728' title 'before the hard prune'
unset multiplot
